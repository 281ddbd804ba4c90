//! A small work-sharing loop over scoped threads, used to attach and detach thousands of probes at once:
//! registering a kprobe or tearing one down mostly waits (text patching, RCU grace periods), so running many
//! at a time is much faster than one after the other.
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Most workers ever used: past this, threads only wait for the kernel's locks.
const MAX_THREADS: usize = 256;

/// Workers for `n` items: with `batch`, one per `batch` items (pwru's `--filter-kprobe-batch`); else a few per
/// CPU.
pub(crate) fn threads_for(n: usize, batch: Option<usize>) -> usize {
    let t = match batch {
        Some(b) => n.div_ceil(b.max(1)),
        None => {
            let cpus = std::thread::available_parallelism().map_or(2, |c| c.get());
            (cpus * 4).clamp(4, 32)
        }
    };
    t.clamp(1, MAX_THREADS).min(n.max(1))
}

/// Runs `f` on every item with `threads` threads and returns the results in item order. `f` returning
/// `Err` stops the workers from taking new items; the first error is returned. Once `cancel` is set no new item
/// is started, and the results of the items done so far are returned (fewer than `items`).
pub(crate) fn try_map<T: Sync, R: Send, E: Send>(
    items: &[T],
    threads: usize,
    cancel: &AtomicBool,
    f: impl Fn(usize, &T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first_err: Mutex<Option<E>> = Mutex::new(None);
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) && !cancel.load(Ordering::Relaxed) {
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

/// Drops (closes) every item with `threads` threads, calling `progress(done, total)` as they go.
pub(crate) fn drop_all<T: Send>(
    items: Vec<T>,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) {
    let total = items.len();
    if total == 0 {
        return;
    }
    let done = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, total) {
            s.spawn(|| {
                while let Some(slot) = slots.get(next.fetch_add(1, Ordering::Relaxed)) {
                    drop(slot.lock().unwrap_or_else(|p| p.into_inner()).take());
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_sets_the_workers() {
        assert_eq!(threads_for(1500, Some(10)), 150);
        assert_eq!(threads_for(1500, Some(1)), MAX_THREADS);
        assert_eq!(threads_for(5, Some(10)), 1);
        assert_eq!(threads_for(0, Some(10)), 1);
        assert!((1..=32).contains(&threads_for(1500, None)));
    }

    #[test]
    fn cancel_stops_new_items_and_keeps_the_done_ones() {
        let items: Vec<usize> = (0..1000).collect();
        let cancel = AtomicBool::new(false);
        let r: Result<Vec<usize>, ()> = try_map(&items, 4, &cancel, |i, v| {
            if i == 10 {
                cancel.store(true, Ordering::Relaxed);
            }
            Ok(*v * 2)
        });
        let r = r.unwrap();
        assert!(r.len() >= 11 && r.len() < 1000, "{} done", r.len());
        assert!(r.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn drop_all_reports_every_item() {
        let seen = AtomicUsize::new(0);
        drop_all((0..100).map(Box::new).collect(), 8, &|d, t| {
            assert!(d <= t && t == 100);
            seen.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(seen.load(Ordering::Relaxed), 100);
    }
}
