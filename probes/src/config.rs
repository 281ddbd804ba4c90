//! What the caller asks the tracer to do.

/// How kernel functions are probed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// One kprobe (perf event) per function.
    Kprobe,
    /// One kprobe-multi link per skb-argument position (needs CONFIG_FPROBE).
    KprobeMulti,
    /// BTF tracepoints (tp_btf, raw_tp fallback) only; works without kprobes.
    Tracepoint,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Kprobe => "kprobe",
            Backend::KprobeMulti => "kprobe-multi",
            Backend::Tracepoint => "tracepoint",
        }
    }
}

/// A kernel function to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    /// Kernel module that holds the function, `None` for vmlinux.
    pub module: Option<String>,
    /// 1-based position of the `struct sk_buff *` argument (1..=5).
    pub skb_arg: u8,
    /// 1-based position of an `enum skb_drop_reason` argument. Supported pairs: (skb 1, reason 2) as in
    /// `kfree_skb_reason`, (skb 2, reason 3) as in `sk_skb_reason_drop`.
    pub reason_arg: Option<u8>,
}

/// A tracepoint to attach. Its index in [`Config::tracepoints`] is the event's `probe_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracepointTarget {
    /// Tracepoint name as in `btf_trace_<name>` (`netif_receive_skb`); a `category:` prefix is ignored.
    pub name: String,
    /// 0-based position of the `struct sk_buff *` among the tracepoint's arguments (0..=4).
    pub skb_arg: u8,
    /// 0-based position of an `enum skb_drop_reason` argument; supported: skb 0 + reason 2 (`skb:kfree_skb`).
    pub reason_arg: Option<u8>,
    /// Number of tracepoint arguments (informational).
    pub nargs: u8,
}

/// A compiled pcap filter (docs/filter-abi.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterCode {
    /// Raw eBPF instructions, 8 bytes each, host byte order.
    pub insns: Vec<u8>,
    /// Bytes of packet the filter may read (capped at 2048).
    pub snaplen: u32,
}

/// Everything [`crate::Tracer::load`] needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub backend: Backend,
    /// Functions to probe (kprobe backends).
    pub kprobes: Vec<Target>,
    /// Tracepoints to attach. With the kprobe backends these come in addition to the kprobes.
    pub tracepoints: Vec<TracepointTarget>,
    pub filter: Option<FilterCode>,
    /// Keep only skbs of this netns inode.
    pub netns: Option<u32>,
    /// Keep only skbs with `mark & mask == value`: `(value, mask)`.
    pub mark: Option<(u32, u32)>,
    /// Keep only skbs on this ifindex.
    pub ifindex: Option<u32>,
    /// `--filter-track-skb`: once an skb matched, follow it (and its clones, with kprobes) unfiltered.
    pub track_skb: bool,
    /// Record the caller's address (kprobe backends).
    pub caller: bool,
    /// Record a kernel stack id per event.
    pub stack: bool,
    /// Size of the event ring buffer in bytes (rounded up to a power of two, at least one page).
    pub ringbuf_bytes: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            backend: Backend::Tracepoint,
            kprobes: Vec::new(),
            tracepoints: Vec::new(),
            filter: None,
            netns: None,
            mark: None,
            ifindex: None,
            track_skb: false,
            caller: false,
            stack: false,
            ringbuf_bytes: 16 << 20,
        }
    }
}
