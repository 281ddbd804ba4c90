//! What an output shows: which columns (text) or keys (JSON), and which time. Both formatters take the same
//! options, so `--output-*` and `--timestamp` mean the same in every format.

/// `--timestamp`: what the time column (or JSON `time` key) shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimestampMode {
    /// No time column.
    #[default]
    None,
    /// The event's monotonic kernel time in ns (bpf_ktime_get_ns), in a TIMESTAMP column.
    Current,
    /// ns since the same skb's previous event (0 for its first), in a TIMESTAMP column.
    Relative,
    /// Local wall-clock time of the event, `2006-01-02T15:04:05.000`, in a TIME column first.
    Absolute,
}

/// Which parts of an event to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputOptions {
    /// `--output-meta`: NETNS MARK IFACE PROTO MTU LEN.
    pub meta: bool,
    /// `--output-tuple`: the L3/L4 tuple.
    pub tuple: bool,
    /// `--output-tcp-flags`: TCP flags in the tuple (`tcp:SYN|ACK`).
    pub tcp_flags: bool,
    /// `--output-caller`: the calling function.
    pub caller: bool,
    /// `--output-stack`: the kernel stack, one frame per line (text) or a list (JSON).
    pub stack: bool,
    /// `--output-skb-cb` (on with `--filter-trace-tc`): `__sk_buff->cb[]` after the metadata (text) or as
    /// `cb` (JSON).
    pub skb_cb: bool,
    /// `--timestamp`.
    pub timestamp: TimestampMode,
    /// `--output-netns-names`: a NETNS NAME column this wide (text), a `netns_name` key (JSON).
    pub netns_names: Option<usize>,
    /// `--output-tunnel`: a TUNNEL column (text), `tunnel`/`tunnel_tuple` keys (JSON).
    pub tunnel: bool,
}

impl Default for OutputOptions {
    /// pwru's defaults: metadata and tuple on, everything else off.
    fn default() -> Self {
        Self {
            meta: true,
            tuple: true,
            tcp_flags: false,
            caller: false,
            stack: false,
            skb_cb: false,
            timestamp: TimestampMode::None,
            netns_names: None,
            tunnel: false,
        }
    }
}
