//! Checks, before any work, that we may load BPF programs and attach them.

use anyhow::{Result, bail};

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Effective capability mask from /proc/self/status.
fn effective_caps() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line["CapEff:".len()..].trim(), 16).ok()
}

pub fn caps_allow_tracing(caps: u64) -> bool {
    let has = |c: u32| caps & (1u64 << c) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

pub fn check() -> Result<()> {
    match effective_caps() {
        Some(c) if caps_allow_tracing(c) => Ok(()),
        Some(_) => bail!(
            "permission denied: loading BPF tracing programs needs root (or CAP_BPF + CAP_PERFMON); run it with sudo"
        ),
        None => bail!("cannot read /proc/self/status to check privileges: is /proc mounted?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_sets() {
        assert!(caps_allow_tracing(1 << CAP_SYS_ADMIN));
        assert!(caps_allow_tracing((1 << CAP_BPF) | (1 << CAP_PERFMON)));
        assert!(!caps_allow_tracing(1 << CAP_BPF));
        assert!(!caps_allow_tracing(0));
        assert!(caps_allow_tracing(0x1ff_ffff_ffff));
    }
}
