//! Constants shared with the BPF C, mirrored from `bpf/contract.h` (and `bpf/filter.h`). There each is a C enum,
//! so the compiled objects' BTF carries its value, and `tests/layout.rs` checks it against the constant here.

/// Slots of the per-CPU `COUNTERS` map (`enum pwru_counter`).
pub mod counter {
    /// Events that passed the filters.
    pub const PRODUCED: u32 = 0;
    /// Of those, events the ring buffer had no room for.
    pub const LOST: u32 = 1;
    /// skbs the tracked-skb table could not remember (full).
    pub const TRACK_FULL: u32 = 2;
    /// Traced-program runs nested deeper than the per-CPU frame stack: their helper calls are not shown.
    pub const PROG_DEEP: u32 = 3;
    /// The number of slots.
    pub const COUNT: u32 = 4;
}

/// Tracepoint programs are loaded once per tracepoint, with this immediate (`rX = TP_ID_MARKER`) replaced by
/// the tracepoint's index, which becomes the events' `probe_id` (`enum pwru_tp_id`).
pub const TP_ID_MARKER: i32 = 0x7e7e_7e7e;

/// Bit of the patched tracepoint id that makes the program forget the skb for skb tracking after the event
/// (`skb:kfree_skb`, `skb:consume_skb`: the tracepoint backend's stand-in for `kfree_skbmem`).
pub const TP_ID_UNTRACK: u32 = 1 << 31;

/// fentry/fexit programs on tc and XDP programs are loaded once per traced program, with this immediate
/// (`rX = PROG_ID_MARKER`) replaced by that program's id, which becomes the events' `probe_id`
/// (`enum pwru_prog_marker`).
pub const PROG_ID_MARKER: i32 = 0x7d7d_7d7d;

/// Bytes of packet the probes copy for the pcap filter: pcap-filter's buffer size, which `bpf/filter.h` repeats.
pub const FILTER_BUF_SIZE: u32 = pcap_filter::FILTER_BUF_SIZE;

/// The BPF cookie of a target of the one-program-per-backend programs (`enum pwru_cookie`): positions are
/// arguments counted from 0; a field holding "position + 1" is 0 when there is none.
pub mod cookie {
    /// 8 bits: the skb's position.
    pub const SKB_SHIFT: u32 = 0;
    /// 8 bits: the drop reason's position + 1.
    pub const REASON_SHIFT: u32 = 8;
    /// 8 bits: position + 1 of an argument reported as the caller (tracepoints).
    pub const CALLER_SHIFT: u32 = 16;
    /// Forget the skb for skb tracking after the event (as [`super::TP_ID_UNTRACK`]).
    pub const UNTRACK: u64 = 1 << 24;
    /// 32 bits: the target's index, the event's `probe_id`.
    pub const ID_SHIFT: u32 = 32;
}
