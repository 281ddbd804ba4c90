//! Cilium's `bpf_mono_now()` clock, to turn CT `lifetime` and NAT `created` into "remaining"/"ago" seconds.
//!
//! Cilium stamps entries with CLOCK_MONOTONIC seconds (`ktime`, the default unless `bpf-clock-probe` is on) or with
//! `jiffies >> 8` (`jiffies`).

use std::str::FromStr;

/// Highest HZ accepted: Linux builds use 100, 250, 300 or 1000; anything far above is a typo that would make every
/// remaining time look like zero.
pub const MAX_HZ: u64 = 10_000;

/// Where the agent records its runtime configuration (the `DaemonConfig` as JSON).
pub const AGENT_RUNTIME_CONFIG: &str = "/var/run/cilium/state/agent-runtime-config.json";

/// A clock spelling that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// Not `auto`, `ktime`, `jiffies:HZ` or `none`.
    #[error("unknown clock {0:?} (auto, ktime, jiffies:HZ or none)")]
    Unknown(String),
    /// `jiffies:HZ` with an HZ that is not a number from 1 to [`MAX_HZ`].
    #[error(
        "bad HZ in {0:?}: the kernel's tick rate, a number from 1 to {MAX_HZ} (usually 100, 250, 300 or 1000)"
    )]
    Hz(String),
    /// The current jiffies could not be read.
    #[error("jiffies clock: {0}")]
    Jiffies(String),
}

/// Which clock the entries' timestamps are read with, as the user spells it; parsing does no I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// The agent's choice from its state directory, else ktime.
    Auto,
    /// CLOCK_MONOTONIC seconds.
    Ktime,
    /// `jiffies >> 8` at this HZ.
    Jiffies(u64),
    /// Print raw timestamps.
    None,
}

impl FromStr for ClockSource {
    type Err = ClockError;
    /// `auto`, `ktime`, `jiffies:HZ` (e.g. `jiffies:250`) or `none`.
    fn from_str(s: &str) -> Result<ClockSource, ClockError> {
        match s {
            "auto" => Ok(ClockSource::Auto),
            "ktime" => Ok(ClockSource::Ktime),
            "none" => Ok(ClockSource::None),
            _ => match s.strip_prefix("jiffies:") {
                Some(hz) => match hz.parse::<u64>() {
                    Ok(hz) if (1..=MAX_HZ).contains(&hz) => Ok(ClockSource::Jiffies(hz)),
                    _ => Err(ClockError::Hz(s.to_string())),
                },
                None => Err(ClockError::Unknown(s.to_string())),
            },
        }
    }
}

impl ClockSource {
    /// The clock, read now (`None` for raw timestamps).
    pub fn now(self) -> Result<Option<Clock>, ClockError> {
        Ok(match self {
            ClockSource::None => None,
            ClockSource::Auto => Some(Clock::auto()),
            ClockSource::Ktime => Some(Clock::ktime()),
            ClockSource::Jiffies(hz) => {
                Some(Clock::jiffies(hz).map_err(|e| ClockError::Jiffies(e.to_string()))?)
            }
        })
    }
}

/// Cilium's clock at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Current time in the clock's own units.
    pub now: u64,
    /// `Some(HZ)` in jiffies mode; one unit is then 256 jiffies.
    pub hz: Option<u64>,
}

/// A timestamp relative to now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relative {
    /// This many seconds from now.
    In(u64),
    /// This many seconds ago.
    Ago(u64),
    /// Earlier than the clock's value at boot: the entry was not stamped with this clock.
    BeforeBoot,
}

impl Clock {
    /// CLOCK_MONOTONIC seconds now.
    pub fn ktime() -> Clock {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        Clock {
            now: ts.tv_sec.max(0) as u64,
            hz: None,
        }
    }

    /// Jiffies mode with the given HZ; the current jiffies come from `/proc/timer_list`.
    pub fn jiffies(hz: u64) -> std::io::Result<Clock> {
        // Bounded: the jiffies line is near the top, and the file grows with the number of CPUs.
        let text = crate::read_bounded("/proc/timer_list", 1 << 20)?;
        let j = text
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("jiffies:")
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
            .ok_or_else(|| std::io::Error::other("no jiffies in /proc/timer_list"))?;
        Ok(Clock {
            now: j >> 8,
            hz: Some(hz),
        })
    }

    /// The same clock read again (a long trace must not compare against the time it started).
    pub fn refreshed(&self) -> Clock {
        match self.hz {
            None => Clock::ktime(),
            Some(hz) => Clock::jiffies(hz).unwrap_or(*self),
        }
    }

    /// The clock's value at boot: 0 for ktime; jiffies start at `INITIAL_JIFFIES` (2^32 − 300·HZ, so that they
    /// wrap 5 minutes after boot on 32-bit kernels).
    fn boot(&self) -> u64 {
        match self.hz {
            Some(hz) => (1u64 << 32).saturating_sub(hz.saturating_mul(300)) >> 8,
            None => 0,
        }
    }

    fn units_to_secs(&self, units: u64) -> u64 {
        match self.hz {
            Some(hz) if hz > 0 => {
                (((units as u128) << 8) / hz as u128).min(u64::MAX as u128) as u64
            }
            _ => units,
        }
    }

    /// Where a CT `lifetime` lies from now.
    pub fn until(&self, t: u32) -> Relative {
        let t = t as u64;
        if t < self.boot() {
            Relative::BeforeBoot
        } else if t >= self.now {
            Relative::In(self.units_to_secs(t - self.now))
        } else {
            Relative::Ago(self.units_to_secs(self.now - t))
        }
    }

    /// Seconds since a NAT `created` stamp; `None` if it lies in the future or before boot (the entry was not
    /// stamped with this clock).
    pub fn since(&self, t: u64) -> Option<u64> {
        if t < self.boot() {
            return None;
        }
        self.now.checked_sub(t).map(|d| self.units_to_secs(d))
    }

    /// The clock the agent chose: `ClockSource` 1 = jiffies (with `KernelHz`), else ktime (also when the agent's
    /// state file is absent, as ktime is the default).
    pub fn from_agent_config(json: Option<&str>) -> Clock {
        let cfg: Option<serde_json::Value> = json.and_then(|j| serde_json::from_str(j).ok());
        let source = cfg.as_ref().and_then(|c| c.get("ClockSource")?.as_u64());
        let hz = cfg
            .as_ref()
            .and_then(|c| c.get("KernelHz")?.as_u64())
            .filter(|h| (1..=MAX_HZ).contains(h));
        match (source, hz) {
            (Some(1), Some(hz)) => Clock::jiffies(hz).unwrap_or_else(|_| Clock::ktime()),
            _ => Clock::ktime(),
        }
    }

    /// [`from_agent_config`](Self::from_agent_config) with the agent's file on this node.
    pub fn auto() -> Clock {
        Clock::from_agent_config(
            crate::read_bounded(AGENT_RUNTIME_CONFIG, 1 << 20)
                .ok()
                .as_deref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let k = Clock {
            now: 1000,
            hz: None,
        };
        assert_eq!(k.until(1030), Relative::In(30));
        assert_eq!(k.until(990), Relative::Ago(10));
        assert_eq!(k.since(990), Some(10));
        assert_eq!(k.since(1010), None);
        // Jiffies start at 2^32 − 300·HZ; the clock counts them in units of 256.
        let boot = |hz: u64| ((1u64 << 32) - 300 * hz) >> 8;
        let j = Clock {
            now: boot(256) + 1000,
            hz: Some(256),
        };
        assert_eq!(j.until(boot(256) as u32 + 1010), Relative::In(10));
        let j = Clock {
            now: boot(1000) + 1000,
            hz: Some(1000),
        };
        assert_eq!(j.until(boot(1000) as u32 + 1100), Relative::In(25));
        assert_eq!(j.until(boot(1000) as u32 + 900), Relative::Ago(25));
        // A stamp from before boot is not this clock's.
        assert_eq!(j.until(5000), Relative::BeforeBoot);
        assert_eq!(j.since(5000), None);
        // Extremes neither overflow nor go negative.
        let max = Clock {
            now: u64::MAX,
            hz: Some(MAX_HZ),
        };
        let secs = |units: u64| (((units as u128) << 8) / MAX_HZ as u128) as u64;
        assert_eq!(
            max.until(u32::MAX),
            Relative::Ago(secs(u64::MAX - u32::MAX as u64))
        );
        assert!(max.since(1 << 32).is_some());
    }

    #[test]
    fn spellings() {
        assert_eq!("jiffies:250".parse(), Ok(ClockSource::Jiffies(250)));
        assert_eq!("none".parse(), Ok(ClockSource::None));
        for bad in [
            "jiffies:0",
            "jiffies:",
            "jiffies:-1",
            "jiffies:10001",
            "jiffies:18446744073709551616",
        ] {
            assert!(
                matches!(bad.parse::<ClockSource>(), Err(ClockError::Hz(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            "monotonic".parse::<ClockSource>(),
            Err(ClockError::Unknown(_))
        ));
        assert_eq!(
            ClockError::Hz("jiffies:0".into()).to_string(),
            "bad HZ in \"jiffies:0\": the kernel's tick rate, a number from 1 to 10000 (usually 100, 250, 300 or 1000)"
        );
    }
}
