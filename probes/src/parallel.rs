//! A small work-sharing loop over scoped threads, used to attach and detach thousands of probes at once:
//! registering a kprobe or tearing one down mostly waits (text patching, RCU grace periods), so running many
//! at a time is much faster than one after the other.
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Threads to use for `n` items.
pub(crate) fn threads_for(n: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, |c| c.get());
    (cpus * 4).clamp(4, 32).min(n.max(1))
}

/// Runs `f` on every item with `threads` threads and returns the results in item order. `f` returning
/// `Err` stops the workers from taking new items; the first error is returned.
pub(crate) fn try_map<T: Sync, R: Send, E: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(usize, &T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first_err: Mutex<Option<E>> = Mutex::new(None);
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    match f(i, item) {
                        Ok(r) => mine.push((i, r)),
                        Err(e) => {
                            stop.store(true, Ordering::Relaxed);
                            first_err
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert(e);
                            break;
                        }
                    }
                }
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(mine);
            });
        }
    });
    if let Some(e) = first_err.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut r = results.into_inner().unwrap_or_else(|p| p.into_inner());
    r.sort_by_key(|(i, _)| *i);
    Ok(r.into_iter().map(|(_, v)| v).collect())
}

/// Drops (closes) every item using several threads.
pub(crate) fn drop_all<T: Send>(items: Vec<T>) {
    let n = items.len();
    if n < 16 {
        drop(items);
        return;
    }
    let threads = threads_for(n);
    let chunk = n.div_ceil(threads);
    let mut items = items;
    std::thread::scope(|s| {
        while !items.is_empty() {
            let rest = items.split_off(items.len().saturating_sub(chunk));
            s.spawn(move || drop(rest));
        }
    });
}
