//! Rust mirror of `bpf/event.h`: the record every probe writes to the ring buffer.
//! `tests/layout.rs` checks field offsets and the flag and kind values against the BTF of the compiled objects.

/// `flags`: saddr/daddr/ports/l4_proto are valid.
pub const EV_HAS_TUPLE: u8 = 1 << 0;
/// `flags`: drop_reason is valid.
pub const EV_HAS_REASON: u8 = 1 << 1;
/// `flags`: caller_ip is valid.
pub const EV_HAS_CALLER: u8 = 1 << 2;
/// `flags`: stack_id is valid.
pub const EV_HAS_STACK: u8 = 1 << 3;
/// `flags`: the addresses are IPv6 (else IPv4 in their first 4 bytes).
pub const EV_IPV6: u8 = 1 << 4;
/// `flags`: the skb passed because skb tracking follows it, not because it matched the filters.
pub const EV_TRACKED: u8 = 1 << 5;

/// `kind`: a kprobe; `func_ip` is the probed function's address.
pub const EV_KIND_KPROBE: u8 = 0;
/// `kind`: a tracepoint; `probe_id` indexes [`crate::Config::tracepoints`].
pub const EV_KIND_TRACEPOINT: u8 = 1;

/// `struct event`: one skb seen by one probe.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawEvent {
    /// `bpf_ktime_get_ns()` at the probe.
    pub ts_ns: u64,
    /// The `struct sk_buff` address.
    pub skb: u64,
    /// The probed function (kprobe kind).
    pub func_ip: u64,
    /// The return address, with [`EV_HAS_CALLER`].
    pub caller_ip: u64,
    /// The tracepoint's index (tracepoint kind).
    pub probe_id: u32,
    /// tgid of the current task.
    pub pid: u32,
    /// The CPU the probe ran on.
    pub cpu: u32,
    /// Inode of the skb's network namespace.
    pub netns: u32,
    /// `skb->mark`.
    pub mark: u32,
    /// The skb's device's ifindex, 0 without a device.
    pub ifindex: u32,
    /// `skb->len`.
    pub len: u32,
    /// The device's MTU.
    pub mtu: u32,
    /// `enum skb_drop_reason`, with [`EV_HAS_REASON`].
    pub drop_reason: u32,
    /// STACKS map id, with [`EV_HAS_STACK`].
    pub stack_id: i32,
    /// `skb->protocol`, in network byte order as in the skb.
    pub protocol: u16,
    /// Source port, host byte order.
    pub sport: u16,
    /// Destination port, host byte order.
    pub dport: u16,
    /// `skb->pkt_type` (`PACKET_HOST`, ...).
    pub pkt_type: u8,
    /// `IPPROTO_*` after the IPv6 extension headers.
    pub l4_proto: u8,
    /// TCP flags byte.
    pub tcp_flags: u8,
    /// `EV_KIND_*`.
    pub kind: u8,
    /// `EV_*` flags.
    pub flags: u8,
    /// Padding.
    pub _pad: u8,
    /// Source address (IPv4 in the first 4 bytes).
    pub saddr: [u8; 16],
    /// Destination address (IPv4 in the first 4 bytes).
    pub daddr: [u8; 16],
    /// The current task's comm, NUL-padded.
    pub comm: [u8; 16],
}

impl RawEvent {
    /// Reads one record from ring-buffer bytes; `None` if the record is too short.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() < std::mem::size_of::<Self>() {
            return None;
        }
        // SAFETY: RawEvent is plain old data and the length was checked.
        Some(unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<Self>()) })
    }
}
