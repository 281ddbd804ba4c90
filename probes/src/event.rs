//! Rust mirror of `bpf/event.h`: the record every probe writes to the ring buffer.
//! `tests/layout.rs` checks field offsets against the BTF of the compiled object.

pub const EV_HAS_TUPLE: u8 = 1 << 0;
pub const EV_HAS_REASON: u8 = 1 << 1;
pub const EV_HAS_CALLER: u8 = 1 << 2;
pub const EV_HAS_STACK: u8 = 1 << 3;
pub const EV_IPV6: u8 = 1 << 4;
pub const EV_TRACKED: u8 = 1 << 5;

pub const EV_KIND_KPROBE: u8 = 0;
pub const EV_KIND_TRACEPOINT: u8 = 1;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawEvent {
    pub ts_ns: u64,
    pub skb: u64,
    pub func_ip: u64,
    pub caller_ip: u64,
    pub probe_id: u32,
    pub pid: u32,
    pub cpu: u32,
    pub netns: u32,
    pub mark: u32,
    pub ifindex: u32,
    pub len: u32,
    pub mtu: u32,
    pub drop_reason: u32,
    pub stack_id: i32,
    pub protocol: u16,
    pub sport: u16,
    pub dport: u16,
    pub pkt_type: u8,
    pub l4_proto: u8,
    pub tcp_flags: u8,
    pub kind: u8,
    pub flags: u8,
    pub _pad: u8,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
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
