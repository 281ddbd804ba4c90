//! Wall-clock formatting for `--timestamp absolute`, in the local time zone like pwru.

/// `2006-01-02T15:04:05.000` for `wall_ns` nanoseconds since the Unix epoch, in local time.
pub(crate) fn local_millis(wall_ns: u64) -> String {
    let secs = (wall_ns / 1_000_000_000) as libc::time_t;
    let millis = (wall_ns % 1_000_000_000) / 1_000_000;
    // SAFETY: localtime_r only writes the tm we own; a zeroed tm is a valid value to start from.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if !ok {
        return format!("{secs}.{millis:03}");
    }
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}
