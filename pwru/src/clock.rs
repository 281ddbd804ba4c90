//! Converts the kernel's event time (bpf_ktime_get_ns = CLOCK_MONOTONIC) to wall-clock time.
//!
//! The offset CLOCK_REALTIME − CLOCK_MONOTONIC is measured once at start, so each event gets the wall time at
//! which it happened, not the time userspace got round to printing it (pwru's `absolute` is print time).

fn now_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; both clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallClock {
    /// CLOCK_REALTIME − CLOCK_MONOTONIC in ns.
    offset_ns: u64,
}

impl WallClock {
    /// Measures the offset, keeping the sample with the tightest bracket of monotonic reads.
    pub fn measure() -> Self {
        let mut best = (u64::MAX, 0u64);
        for _ in 0..5 {
            let m1 = now_ns(libc::CLOCK_MONOTONIC);
            let r = now_ns(libc::CLOCK_REALTIME);
            let m2 = now_ns(libc::CLOCK_MONOTONIC);
            let width = m2 - m1;
            if width < best.0 {
                best = (width, r - (m1 + width / 2));
            }
        }
        Self { offset_ns: best.1 }
    }

    pub fn from_offset(offset_ns: u64) -> Self {
        Self { offset_ns }
    }

    /// Wall-clock ns since the epoch for a monotonic kernel timestamp.
    pub fn wall_ns(&self, ktime_ns: u64) -> u64 {
        ktime_ns.wrapping_add(self.offset_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_monotonic_now_to_realtime_now() {
        let c = WallClock::measure();
        let mono = now_ns(libc::CLOCK_MONOTONIC);
        let real = now_ns(libc::CLOCK_REALTIME);
        let diff = c.wall_ns(mono).abs_diff(real);
        assert!(diff < 5_000_000, "conversion off by {diff} ns");
    }

    #[test]
    fn offset_is_applied() {
        assert_eq!(WallClock::from_offset(1_000).wall_ns(234), 1_234);
    }
}
