//! What the kernel-cost benches share (`probes`' `emit_bench`, `btf-expr`'s `kernel_cost`): a ping flood between
//! the two namespaces of a [`NetnsPair`], timed by the kernel itself (`BPF_ENABLE_STATS`) in the programs that
//! traced it.

use crate::NetnsPair;
use bpf_sys::obj::{self, Kind};
use bpf_sys::prog;
use bpf_sys::uapi::bpf_stats_type;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The tracepoints a flood's packet passes (`net:*`, `skb:*`), the ones the benches attach to.
pub const TRACEPOINTS: [&str; 6] = [
    "netif_receive_skb",
    "net_dev_queue",
    "net_dev_start_xmit",
    "net_dev_xmit",
    "consume_skb",
    "kfree_skb",
];

/// A bench's setup: the pings of its first argument (default 20000), the pair, the kernel's run-time statistics
/// switched on (while the [`Bench`] lives) and the line that says what runs.
pub struct Bench {
    /// Echo requests per flood.
    pub pings: u32,
    /// Where the flood runs.
    pub pair: NetnsPair,
    _stats: OwnedFd,
}

impl Bench {
    /// Sets up pair `tag` on 10.`net`.0.0/24 and prints the first line of the bench's table.
    pub fn new(tag: &str, net: u8) -> Bench {
        let pings = std::env::args()
            .nth(1)
            .and_then(|a| a.parse().ok())
            .unwrap_or(20000);
        let pair = NetnsPair::new(tag, net);
        let _stats =
            prog::enable_stats(bpf_stats_type::BPF_STATS_RUN_TIME).expect("BPF_ENABLE_STATS");
        println!(
            "host {}, {pings} pings -f -s 1400 between two netns, tracepoints {TRACEPOINTS:?}",
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
        );
        Bench {
            pings,
            pair,
            _stats,
        }
    }

    /// Floods (1400-byte payload) while `drain` runs on another thread until the stop flag it is given is set,
    /// 200 ms after the flood; returns what the programs `ids` cost and what `drain` returned.
    pub fn measure<R: Send>(
        &self,
        ids: &[u32],
        drain: impl FnOnce(&AtomicBool) -> R + Send,
    ) -> (Cost, R) {
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let reader = s.spawn(|| drain(&stop));
            let cost = self.flood(ids);
            std::thread::sleep(Duration::from_millis(200));
            stop.store(true, Ordering::Relaxed);
            (cost, reader.join().expect("the drain thread"))
        })
    }

    /// Floods and returns what the programs `ids` cost meanwhile.
    pub fn flood(&self, ids: &[u32]) -> Cost {
        let before = run_stats(ids);
        let t0 = Instant::now();
        self.pair.exec(
            &self.pair.a,
            &format!(
                "ping -f -q -c {} -s 1400 -W 1 {} >/dev/null; true",
                self.pings, self.pair.ip_b
            ),
        );
        let wall = t0.elapsed();
        let after = run_stats(ids);
        Cost {
            runs: after.1 - before.1,
            ns: after.0 - before.0,
            wall,
        }
    }
}

/// What a flood cost some programs.
#[derive(Clone, Copy, Debug)]
pub struct Cost {
    /// Program runs.
    pub runs: u64,
    /// Nanoseconds in the programs, as the kernel counted them.
    pub ns: u64,
    /// Wall time of the flood.
    pub wall: Duration,
}

impl Cost {
    /// Mean nanoseconds a run.
    pub fn ns_per_run(&self) -> f64 {
        self.ns as f64 / self.runs.max(1) as f64
    }
}

/// (run_time_ns, run_cnt) summed over programs.
fn run_stats(ids: &[u32]) -> (u64, u64) {
    ids.iter().fold((0, 0), |(t, c), &id| {
        let fd = obj::fd_by_id(Kind::Prog, id).expect("program by id");
        let i = obj::prog_info(fd.as_fd()).expect("program info");
        (t + i.run_time_ns, c + i.run_cnt)
    })
}

/// Instructions of loaded program `id` after verification (dead branches removed).
pub fn xlated_insns(id: u32) -> u32 {
    let fd = obj::fd_by_id(Kind::Prog, id).expect("program by id");
    obj::prog_info(fd.as_fd())
        .expect("program info")
        .xlated_prog_len
        / 8
}
