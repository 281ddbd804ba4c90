//! Time as the outputs show it: local wall-clock time (pwru prints local time, like `date`), and the per-skb
//! delta of `--timestamp relative`.

use std::collections::HashMap;

/// A wall-clock instant broken down in the local time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    /// Year, e.g. 2024.
    pub year: i32,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–60 (a leap second is 60).
    pub second: u8,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

/// `wall_ns` (nanoseconds since the Unix epoch) in the local time zone; `None` if the C library cannot convert it.
pub fn local(wall_ns: u64) -> Option<LocalTime> {
    let secs = (wall_ns / 1_000_000_000) as libc::time_t;
    // SAFETY: localtime_r only writes the tm we own; a zeroed tm is a valid value to start from.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        return None;
    }
    Some(LocalTime {
        year: tm.tm_year + 1900,
        month: (tm.tm_mon + 1) as u8,
        day: tm.tm_mday as u8,
        hour: tm.tm_hour as u8,
        minute: tm.tm_min as u8,
        second: tm.tm_sec as u8,
        nanos: (wall_ns % 1_000_000_000) as u32,
    })
}

/// `2006-01-02T15:04:05.000` in local time (pwru's `--timestamp absolute`); seconds since the epoch if the time
/// cannot be converted.
pub fn local_millis(wall_ns: u64) -> String {
    let millis = (wall_ns % 1_000_000_000) / 1_000_000;
    match local(wall_ns) {
        Some(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        ),
        None => format!("{}.{millis:03}", wall_ns / 1_000_000_000),
    }
}

/// Nanoseconds since the same skb's previous event (`--timestamp relative`), 0 for an skb's first event.
#[derive(Debug, Default)]
pub struct SinceLast {
    last_seen: HashMap<u64, u64>,
}

/// Bounds the per-skb memory on long runs (skb addresses are recycled anyway).
const LAST_SEEN_MAX: usize = 1 << 20;

impl SinceLast {
    /// Records the event of `skb` at `ktime_ns` and returns the time since that skb's previous one.
    pub fn delta(&mut self, skb: u64, ktime_ns: u64) -> u64 {
        if self.last_seen.len() >= LAST_SEEN_MAX {
            self.last_seen.clear();
        }
        match self.last_seen.insert(skb, ktime_ns) {
            Some(prev) => ktime_ns.saturating_sub(prev),
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_time_fields_are_in_range() {
        let t = local(1_700_000_000_123_456_789).unwrap();
        assert!(t.year == 2023 && (1..=12).contains(&t.month) && (1..=31).contains(&t.day));
        assert!(t.hour < 24 && t.minute < 60 && t.second <= 60);
        assert_eq!(t.nanos, 123_456_789);
        let s = local_millis(1_700_000_000_123_456_789);
        assert!(s.starts_with("2023-11-1") && s.ends_with(".123"), "{s}");
    }

    #[test]
    fn deltas_are_per_skb() {
        let mut s = SinceLast::default();
        assert_eq!(s.delta(1, 100), 0);
        assert_eq!(s.delta(2, 150), 0);
        assert_eq!(s.delta(1, 175), 75);
        assert_eq!(s.delta(2, 150), 0);
    }
}
