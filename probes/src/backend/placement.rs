//! Where on a function a kprobe goes ([`crate::KprobePlacement`]).
//!
//! On its entry, a traceable function starts with an ftrace call site (x86: a 5-byte `call __fentry__` patched
//! to a nop, after an `endbr64` on IBT kernels), and the kernel turns a kprobe there into an ftrace user: arming
//! or disarming one updates ftrace's filter and rescans every ftrace record under ftrace's lock. The first
//! instruction after the site is still before the function's own code, so the arguments are in their registers
//! and the return address on top of the stack, as at the entry; a kprobe there is a plain breakpoint.
use super::kprobe::Site;
use crate::config::{KprobePlacement, Target};
use std::collections::HashMap;
use std::ffi::CString;

/// Bytes of the ftrace call site on x86 (`MCOUNT_INSN_SIZE`).
const X86_FTRACE_SITE: u64 = 5;

/// ftrace call sites by function name (`func` or `func [module]` as ftrace spells it): the site's address where
/// the kernel lists it (`available_filter_functions_addrs`, 6.5+), else `None` (the site is at the entry, as on
/// kernels without IBT, which is all the older file can tell).
pub(crate) struct FtraceSites(HashMap<String, Option<u64>>);

impl FtraceSites {
    /// Reads tracefs; `None` if neither file is readable.
    pub(crate) fn read() -> Option<FtraceSites> {
        let dirs = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
        for d in dirs {
            if let Ok(text) =
                std::fs::read_to_string(format!("{d}/available_filter_functions_addrs"))
            {
                return Some(FtraceSites::parse(&text, true));
            }
        }
        for d in dirs {
            if let Ok(text) = std::fs::read_to_string(format!("{d}/available_filter_functions")) {
                return Some(FtraceSites::parse(&text, false));
            }
        }
        None
    }

    fn parse(text: &str, with_addrs: bool) -> FtraceSites {
        let mut m = HashMap::new();
        for line in text.lines() {
            let mut w = line.split_whitespace();
            let addr = if with_addrs {
                w.next().and_then(|a| u64::from_str_radix(a, 16).ok())
            } else {
                None
            };
            let Some(name) = w.next() else { continue };
            let key = match w.next() {
                Some(m) => format!("{name} {m}"),
                None => name.to_string(),
            };
            // A name listed twice (two static functions) is ambiguous: its entry stays the only safe site.
            m.entry(key)
                .and_modify(|v: &mut Option<u64>| *v = Some(0))
                .or_insert(addr);
        }
        FtraceSites(m)
    }

    /// The first address past `t`'s ftrace call site, if it has one we can place a probe behind.
    fn past_site(&self, t: &Target, entry: u64) -> Option<u64> {
        if !cfg!(target_arch = "x86_64") {
            return None;
        }
        let key = match &t.module {
            Some(m) => format!("{} [{m}]", t.name),
            None => t.name.clone(),
        };
        let site = match self.0.get(&key)? {
            Some(0) => return None,
            Some(site) => *site,
            None => entry,
        };
        // The site must be the function's own (at its entry or just past an endbr64).
        (site >= entry && site - entry <= 4).then_some(site + X86_FTRACE_SITE)
    }
}

/// The site of each target's probe, and where to fall back to when the kernel refuses that site.
pub(crate) fn sites(
    targets: &[Target],
    placement: KprobePlacement,
    ftrace: Option<&FtraceSites>,
) -> Vec<(Site, Option<Site>)> {
    targets
        .iter()
        .map(|t| {
            let symbol = || {
                let s = match &t.module {
                    Some(m) => format!("{m}:{}", t.name),
                    None => t.name.clone(),
                };
                // A NUL cannot come from BTF or kallsyms; such a name simply resolves to nothing.
                Site::Symbol(CString::new(s).unwrap_or_default())
            };
            match (placement, t.address) {
                (KprobePlacement::Symbol, _) | (_, None) => (symbol(), None),
                (KprobePlacement::Entry, Some(a)) => (Site::Address(a), None),
                (KprobePlacement::PastFtrace, Some(a)) => {
                    match ftrace.and_then(|f| f.past_site(t, a)) {
                        Some(past) => (Site::Address(past), Some(Site::Address(a))),
                        None => (Site::Address(a), None),
                    }
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ArgIndex;

    fn t(name: &str, module: Option<&str>, address: u64) -> Target {
        Target {
            name: name.into(),
            module: module.map(Into::into),
            skb_arg: ArgIndex(0),
            reason_arg: None,
            address: Some(address),
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn past_the_site_where_ftrace_has_one() {
        let old = FtraceSites::parse("ip_rcv\nveth_xmit [veth]\ndup\ndup\n", false);
        let new = FtraceSites::parse(
            "ffffffff81000004 ip_rcv\nffffffffc0001000 veth_xmit [veth]\n",
            true,
        );
        let a = Site::Address;
        let ts = [
            t("ip_rcv", None, 0xffff_ffff_8100_0000),
            t("veth_xmit", Some("veth"), 0xffff_ffff_c000_1000),
            t("dup", None, 0x1000),
            t("notrace", None, 0x2000),
        ];
        let got = sites(&ts, KprobePlacement::PastFtrace, Some(&old));
        assert_eq!(
            got[0],
            (a(0xffff_ffff_8100_0005), Some(a(0xffff_ffff_8100_0000)))
        );
        assert_eq!(
            got[1],
            (a(0xffff_ffff_c000_1005), Some(a(0xffff_ffff_c000_1000)))
        );
        assert_eq!(got[2], (a(0x1000), None));
        assert_eq!(got[3], (a(0x2000), None));
        let got = sites(&ts, KprobePlacement::PastFtrace, Some(&new));
        // IBT: endbr64 (4 bytes), then the 5-byte site.
        assert_eq!(
            got[0],
            (a(0xffff_ffff_8100_0009), Some(a(0xffff_ffff_8100_0000)))
        );
        assert_eq!(
            got[1],
            (a(0xffff_ffff_c000_1005), Some(a(0xffff_ffff_c000_1000)))
        );
    }

    #[test]
    fn entry_and_symbol_placements() {
        let ts = [
            t("ip_rcv", None, 0x1000),
            t("veth_xmit", Some("veth"), 0x2000),
        ];
        let got = sites(&ts, KprobePlacement::Entry, None);
        assert_eq!(got[0], (Site::Address(0x1000), None));
        let got = sites(&ts, KprobePlacement::Symbol, None);
        assert_eq!(got[1], (Site::Symbol(c"veth:veth_xmit".into()), None));
        let mut no_addr = ts[0].clone();
        no_addr.address = None;
        let got = sites(&[no_addr], KprobePlacement::PastFtrace, None);
        assert_eq!(got[0], (Site::Symbol(c"ip_rcv".into()), None));
    }
}
