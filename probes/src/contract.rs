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
    /// In-kernel summary: packets (paths started).
    pub const PACKETS: u32 = 4;
    /// In-kernel summary: of the events produced, those counted per function and not shipped.
    pub const SUMMED: u32 = 5;
    /// In-kernel summary: events whose packet the table of live skbs could not hold.
    pub const PATHS_FULL: u32 = 6;
    /// The number of slots.
    pub const COUNT: u32 = 7;
}

/// What a probed function is to a packet, one bit each (`enum pwru_role`): the in-kernel summary's table, which
/// the caller computes from `event::fate`'s rules.
pub mod role {
    /// A drop function: a drop unless its reason says consumed.
    pub const DROP: u32 = 1 << 0;
    /// A free that is a drop when its reason is not consumed.
    pub const REASONED_FREE: u32 = 1 << 1;
    /// Frees the skb: the next event at its address is another packet.
    pub const FREES: u32 = 1 << 2;
    /// Starts the release of an skb (release helpers may follow).
    pub const STARTS_RELEASE: u32 = 1 << 3;
    /// A helper that runs while an skb is being released.
    pub const RELEASE_STEP: u32 = 1 << 4;
    /// Where a locally sent packet starts its way to a device.
    pub const STARTS_TX: u32 = 1 << 5;
    /// Where a packet arriving on a device starts.
    pub const STARTS_RX: u32 = 1 << 6;
    /// Handed to a device's transmit routine.
    pub const HANDOFF: u32 = 1 << 7;
    /// Queued to a socket.
    pub const SOCKET: u32 = 1 << 8;
    /// Received by the stack.
    pub const RECEIVE: u32 = 1 << 9;
    /// Where a locally made packet enters IP output.
    pub const LOCAL_OUT: u32 = 1 << 10;
}

/// Drop reason codes below this can be marked "consumed" for the in-kernel summary (`CFG_CONSUMED`, one bit each;
/// `enum pwru_summary_abi`); a consumed code past it keeps the counting in userspace.
pub const CONSUMED_CODES: u32 = 256;

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
