//! Raising `RLIMIT_NOFILE`: one fd per kprobe adds up to thousands (pwru #242 saw 5,269 with all modules).

/// Raises the open-file limit as far as allowed: root may lift the hard limit up to `fs.nr_open` (at most 2^20);
/// otherwise the soft limit goes up to the hard one. Returns the soft limit in force afterwards.
pub fn raise_nofile_limit() -> u64 {
    let nr_open: libc::rlim_t = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        let want = r.rlim_max.max(nr_open.min(1 << 20));
        let lifted = libc::rlimit {
            rlim_cur: want,
            rlim_max: want,
        };
        if want > r.rlim_max && libc::setrlimit(libc::RLIMIT_NOFILE, &lifted) == 0 {
            return want as u64;
        }
        if r.rlim_cur < r.rlim_max {
            let cur = libc::rlimit {
                rlim_cur: r.rlim_max,
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &cur) == 0 {
                return r.rlim_max as u64;
            }
        }
        r.rlim_cur as u64
    }
}
