//! Cilium's `bpf_mono_now()` clock, to turn CT `lifetime` and NAT `created` into "remaining"/"ago" seconds.
//!
//! Cilium stamps entries with CLOCK_MONOTONIC seconds (`ktime`, the default unless `bpf-clock-probe` is on) or with
//! `jiffies >> 8` (`jiffies`).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Current time in the clock's own units.
    pub now: u64,
    /// `Some(HZ)` in jiffies mode; one unit is then 256 jiffies.
    pub hz: Option<u64>,
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
            now: ts.tv_sec as u64,
            hz: None,
        }
    }

    /// Jiffies mode with the given HZ; the current jiffies come from `/proc/timer_list`.
    pub fn jiffies(hz: u64) -> std::io::Result<Clock> {
        let text = std::fs::read_to_string("/proc/timer_list")?;
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

    fn units_to_secs(&self, units: i64) -> i64 {
        match self.hz {
            Some(hz) if hz > 0 => (units << 8) / hz as i64,
            _ => units,
        }
    }

    /// Seconds from now until `t` (negative when already past).
    pub fn secs_until(&self, t: u32) -> i64 {
        self.units_to_secs(t as i64 - self.now as i64)
    }

    /// Seconds since `t`.
    pub fn secs_since(&self, t: u64) -> i64 {
        self.units_to_secs(self.now as i64 - t as i64)
    }
}

/// Where the agent records its runtime configuration (the `DaemonConfig` as JSON).
pub const AGENT_RUNTIME_CONFIG: &str = "/var/run/cilium/state/agent-runtime-config.json";

impl Clock {
    /// The clock the agent chose: `ClockSource` 1 = jiffies (with `KernelHz`), else ktime (also when the agent's
    /// state file is absent, as ktime is the default).
    pub fn from_agent_config(json: Option<&str>) -> Clock {
        let cfg: Option<serde_json::Value> = json.and_then(|j| serde_json::from_str(j).ok());
        let source = cfg.as_ref().and_then(|c| c.get("ClockSource")?.as_u64());
        let hz = cfg
            .as_ref()
            .and_then(|c| c.get("KernelHz")?.as_u64())
            .filter(|&h| h > 0);
        match (source, hz) {
            (Some(1), Some(hz)) => Clock::jiffies(hz).unwrap_or_else(|_| Clock::ktime()),
            _ => Clock::ktime(),
        }
    }

    pub fn auto() -> Clock {
        Clock::from_agent_config(
            std::fs::read_to_string(AGENT_RUNTIME_CONFIG)
                .ok()
                .as_deref(),
        )
    }
}

impl std::str::FromStr for Clock {
    type Err = String;
    /// `auto`, `ktime`, or `jiffies:HZ` (e.g. `jiffies:250`).
    fn from_str(s: &str) -> Result<Clock, String> {
        if s == "ktime" {
            return Ok(Clock::ktime());
        }
        if s == "auto" {
            return Ok(Clock::auto());
        }
        if let Some(hz) = s.strip_prefix("jiffies:") {
            let hz: u64 = hz.parse().map_err(|_| format!("bad HZ in {s:?}"))?;
            return Clock::jiffies(hz).map_err(|e| format!("jiffies clock: {e}"));
        }
        Err(format!(
            "unknown clock {s:?} (auto, ktime, jiffies:HZ or none)"
        ))
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
        assert_eq!(k.secs_until(1030), 30);
        assert_eq!(k.secs_since(990), 10);
        let j = Clock {
            now: 1000,
            hz: Some(256),
        };
        assert_eq!(j.secs_until(1010), 10);
        let j = Clock {
            now: 1000,
            hz: Some(1000),
        };
        assert_eq!(j.secs_until(1100), 25);
    }
}
