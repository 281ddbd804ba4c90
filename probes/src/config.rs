//! What the caller asks the tracer to do.
use crate::variant;
use std::fmt;

/// The position of an argument, counted from 0: `ArgIndex(0)` is a function's first parameter or a tracepoint's
/// first argument (after the `void *` context of its `btf_trace_` prototype). Every position in this crate's API
/// is one; which positions a program reads is decided in one table (see [`Target::supported`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArgIndex(pub u8);

impl fmt::Display for ArgIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "argument {} (counted from 0)", self.0)
    }
}

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
    /// The name users know the backend by (`kprobe`, `kprobe-multi`, `tracepoint`).
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
    /// The function's name.
    pub name: String,
    /// Kernel module that holds the function, `None` for vmlinux.
    pub module: Option<String>,
    /// Position of the `struct sk_buff *` parameter.
    pub skb_arg: ArgIndex,
    /// Position of an `enum skb_drop_reason` parameter. Where no program reads the reason at that position
    /// (next to this skb position), the function is probed without it and its events carry no reason.
    pub reason_arg: Option<ArgIndex>,
    /// The function's address (from `/proc/kallsyms`), if known: the kprobe backend then places its probe by
    /// address (see [`KprobePlacement`]); without it, by name.
    pub address: Option<u64>,
}

/// Where the kprobe backend places a function's probe (kprobe-multi always uses the entry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KprobePlacement {
    /// At the entry, named: the kernel looks the name up for each probe. The default: the placements below did
    /// not attach faster in the VM benchmarks (probes/README.md).
    #[default]
    Symbol,
    /// At the entry, by [`Target::address`].
    Entry,
    /// Just past the function's ftrace call site, by address (a breakpoint rather than an ftrace user), falling
    /// back to the entry where the kernel refuses that address or the function has no ftrace site.
    PastFtrace,
}

impl Target {
    /// Whether a program reads the skb from [`Target::skb_arg`]; [`crate::Tracer::load`] refuses targets
    /// that are not.
    pub fn supported(&self) -> bool {
        variant::kprobe(self.skb_arg, self.reason_arg).is_some()
    }
}

/// A tracepoint to attach. Its index in [`Config::tracepoints`] is the event's `probe_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracepointTarget {
    /// Tracepoint name as in `btf_trace_<name>` (`netif_receive_skb`); a `category:` prefix is ignored.
    pub name: String,
    /// Position of the `struct sk_buff *` among the tracepoint's arguments.
    pub skb_arg: ArgIndex,
    /// Position of an `enum skb_drop_reason` argument; read where a program reads it next to this skb position
    /// (`skb:kfree_skb`), else the tracepoint is attached without it.
    pub reason_arg: Option<ArgIndex>,
    /// Number of tracepoint arguments (informational).
    pub nargs: u8,
}

impl From<symbols::SkbTracepoint> for TracepointTarget {
    /// The tracepoint as [`symbols::skb_tracepoints`] found it in BTF.
    fn from(tp: symbols::SkbTracepoint) -> TracepointTarget {
        TracepointTarget {
            name: tp.name,
            skb_arg: ArgIndex(tp.skb_arg),
            reason_arg: tp.reason_arg.map(ArgIndex),
            nargs: tp.nargs,
        }
    }
}

impl TracepointTarget {
    /// Whether a program reads the skb from [`TracepointTarget::skb_arg`]; [`crate::Tracer::load`] refuses
    /// targets that are not.
    pub fn supported(&self) -> bool {
        variant::tracepoint(self.skb_arg, self.reason_arg).is_some()
    }
}

/// A compiled pcap filter (docs/filter-abi.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterCode {
    /// Raw eBPF instructions, 8 bytes each, host byte order.
    pub insns: Vec<u8>,
    /// Bytes of packet the filter may read (capped at [`pcap_filter::FILTER_BUF_SIZE`]).
    pub snaplen: u32,
}

/// Compiled BTF-expression value fetchers: the raw instructions of a `btf_expr::Fetch` rooted at
/// `struct sk_buff *` and the size of the output area they fill (docs/btf-expr-abi.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchCode {
    /// Raw eBPF instructions, 8 bytes each, host byte order.
    pub insns: Vec<u8>,
    /// Bytes of output area the code writes (1 to [`crate::event::BTF_AREA_MAX`]); each event carries them.
    pub area_size: u32,
}

/// Structs each event carries as the kernel prints them (`bpf_snprintf_btf`, Linux 5.9+), one section each, in a
/// text buffer of [`Config::percpu_buf`] bytes (at most [`crate::event::DUMP_BUF_MAX`]; a longer text is cut).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dumps {
    /// The `struct sk_buff`.
    pub skb: bool,
    /// Its `struct skb_shared_info`.
    pub shared_info: bool,
}

impl Dumps {
    /// Whether any struct is dumped.
    pub fn any(&self) -> bool {
        self.skb || self.shared_info
    }
}

/// Which BPF programs to trace (fentry and fexit on each), and how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgTracing {
    /// tc programs (`sched_cls`, `sched_act`: cls_bpf, tcx and netkit attachments alike).
    pub tc: bool,
    /// XDP programs.
    pub xdp: bool,
    /// Also kprobes on the kernel functions (BPF helpers, map operations) the traced programs call.
    pub helpers: bool,
    /// `--output-bpfmap`: the map operation functions of this kernel. Those the traced programs call get kprobes
    /// whose events carry the operation (map, key, value) for the packet the program runs on.
    pub map_funcs: Vec<MapFuncTarget>,
    /// `offsetof(struct htab_elem, key)` in the running kernel, to find the value behind what
    /// [`MapFuncTarget::returns_elem`] lookups return; without it their value is not read.
    pub htab_elem_key: Option<u32>,
    /// How often to look for programs loaded or released while tracing (`None`: never).
    pub poll: Option<std::time::Duration>,
}

impl ProgTracing {
    /// Whether any program type is traced.
    pub fn any(&self) -> bool {
        self.tc || self.xdp
    }
}

/// The packets inside VXLAN and Geneve tunnels (`--output-tunnel`, `--filter-tunnel-pcap-l2/-l3`). A tunnel packet
/// is a UDP datagram to port 4789 or 8472 (VXLAN) or 6081 (Geneve), or an skb whose inner headers the kernel set
/// when it encapsulated it; its inner packet is what follows the tunnel header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TunnelConfig {
    /// Add the inner packet's tuple to the events of tunnel packets.
    pub output: bool,
    /// Tunnel packets must carry an Ethernet frame this filter accepts; other packets are not affected (as in
    /// pwru). Compiled like [`Config::filter`].
    pub filter_l2: Option<FilterCode>,
    /// Tunnel packets must carry an IP packet this filter accepts; other packets are not affected.
    pub filter_l3: Option<FilterCode>,
}

/// A kernel function probed for what it does on a packet's stack rather than for an skb argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackFunc {
    /// The function's name.
    pub name: String,
    /// Kernel module that holds the function, `None` for vmlinux.
    pub module: Option<String>,
}

/// What a map operation function does, for [`MapFuncTarget`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapOpKind {
    /// `(map, key)` returning the value or NULL.
    Lookup,
    /// `(map, key, value, flags)`.
    Update,
    /// `(map, key)`.
    Delete,
}

/// A BPF map operation function of vmlinux (`htab_map_update_elem`, `__htab_map_lookup_elem`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapFuncTarget {
    /// The function's name.
    pub name: String,
    /// What it does.
    pub op: MapOpKind,
    /// A lookup that returns the hash element, whose value is behind the key (`__htab_map_lookup_elem`).
    pub returns_elem: bool,
}

/// Following a packet by the task whose kernel stack processes it (`--filter-track-skb-by-stackid`,
/// `--filter-non-skb-funcs`): while a selected skb is being processed by a task, every skb that task's stack handles
/// is an event too, and functions without an skb report as that packet. Needs the kprobe backends for
/// [`StackConfig::non_skb`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackConfig {
    /// Follow packets by stack.
    pub track: bool,
    /// Functions without an skb to probe (kprobe backends).
    pub non_skb: Vec<StackFunc>,
}

/// A summary-only run's counting in the kernel: each selected event is counted per target, its packet followed in
/// a table of live skbs, and only a packet's first drop is shipped. Where kprobes have no BPF cookie (Linux before
/// 5.15) the programs cannot tell their targets apart, and the tracer ships every event as without it
/// ([`crate::Tracer::summarizing`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelSummary {
    /// [`crate::contract::role`] bits of each target: the kprobes first (kprobe backends), then the tracepoints.
    pub roles: Vec<u32>,
    /// Drop reason codes that mean "freed after normal use". The kernel counts only where each is below
    /// [`crate::contract::CONSUMED_CODES`] (every core reason is); else the tracer ships every event.
    pub consumed_reasons: Vec<u32>,
}

/// Everything [`crate::Tracer::load`] needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// How kernel functions are probed.
    pub backend: Backend,
    /// Functions to probe (kprobe backends).
    pub kprobes: Vec<Target>,
    /// Tracepoints to attach. With the kprobe backends these come in addition to the kprobes.
    pub tracepoints: Vec<TracepointTarget>,
    /// Keep only packets this pcap filter accepts.
    pub filter: Option<FilterCode>,
    /// Keep only skbs this BTF-expression filter accepts: the raw instructions of a `btf_expr::Filter` rooted at
    /// `struct sk_buff *` (docs/btf-expr-abi.md).
    pub skb_expr: Option<Vec<u8>>,
    /// Values to read from each event's skb with BTF expressions (a section of every event).
    pub skb_fetch: Option<FetchCode>,
    /// Keep only the buffers of traced XDP programs this BTF-expression filter accepts: a `btf_expr::Filter`
    /// rooted at `struct xdp_buff *` ([`ProgTracing::xdp`]; other events are not affected).
    pub xdp_expr: Option<Vec<u8>>,
    /// Values to read from the `struct xdp_buff` of each traced XDP program's event.
    pub xdp_fetch: Option<FetchCode>,
    /// Structs to print for each event.
    pub dumps: Dumps,
    /// Keep only skbs of this netns inode.
    pub netns: Option<u32>,
    /// Keep only skbs with `mark & mask == value`: `(value, mask)`.
    pub mark: Option<(u32, u32)>,
    /// Keep only skbs on this ifindex.
    pub ifindex: Option<u32>,
    /// Once an skb matched the filters, follow it (and its clones, with the kprobe backends) unfiltered.
    pub track_skb: bool,
    /// Record the caller's address (kprobe backends).
    pub caller: bool,
    /// Record a kernel stack id per event.
    pub stack: bool,
    /// BPF programs to trace.
    pub progs: ProgTracing,
    /// skb events carry `__sk_buff->cb[0..4]` (what tc programs keep there).
    pub skb_cb: bool,
    /// Size of the event ring buffer in bytes (rounded up to a power of two, at least one page).
    pub ringbuf_bytes: u32,
    /// Where kprobes go (kprobe backend).
    pub kprobe_placement: KprobePlacement,
    /// Probes one attaching or detaching worker thread handles (kprobe backend); `None`: a few workers per CPU.
    pub kprobe_batch: Option<usize>,
    /// Tunnel packets: their inner tuple, and filters on their inner packet.
    pub tunnel: TunnelConfig,
    /// Following packets by stack, and what reports through it.
    pub stack_track: StackConfig,
    /// Bytes of each per-CPU buffer the BTF dumps of an event use (`--set-percpu-buf`).
    pub percpu_buf: u32,
    /// Packet bytes to copy into each event ([`crate::event::Record::packet`]), from the MAC header when the skb
    /// has one, else from the network header; at most [`crate::event::SNAPLEN_MAX`], and only the skb's linear
    /// data. 0 (the default): none, and events cost what they cost without this feature (fixed-size records
    /// written in place).
    pub snaplen: u32,
    /// Count in the kernel, ship only drops (a summary-only run).
    pub summary: Option<KernelSummary>,
}

/// Default of [`Config::percpu_buf`] (pwru's).
pub const PERCPU_BUF_DEFAULT: u32 = 4096;

impl Default for Config {
    fn default() -> Self {
        Config {
            backend: Backend::Tracepoint,
            kprobes: Vec::new(),
            tracepoints: Vec::new(),
            filter: None,
            skb_expr: None,
            skb_fetch: None,
            xdp_expr: None,
            xdp_fetch: None,
            dumps: Dumps::default(),
            netns: None,
            mark: None,
            ifindex: None,
            track_skb: false,
            caller: false,
            stack: false,
            progs: ProgTracing::default(),
            skb_cb: false,
            ringbuf_bytes: 16 << 20,
            kprobe_placement: KprobePlacement::default(),
            kprobe_batch: None,
            tunnel: TunnelConfig::default(),
            stack_track: StackConfig::default(),
            percpu_buf: PERCPU_BUF_DEFAULT,
            snaplen: 0,
            summary: None,
        }
    }
}
