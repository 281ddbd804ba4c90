//! Rust mirror of `bpf/event.h`: the records the probes write to the ring buffer. `tests/layout.rs` checks every
//! struct's field offsets and every enum's values against the BTF of the compiled objects.
//!
//! A record is a [`RecordHead`], the fixed part its type names ([`RawEvent`] for [`REC_EVENT`]) and then
//! [`RecordHead::nsections`] sections, each a [`SectionHead`] and its payload, starting 8-byte aligned.
//! [`Record`] holds one event record as read from the ring and hands out its sections; [`Record::packet`] decodes
//! the [`SEC_PACKET`] section.
//!
//! Adding a section kind (say, skb->cb[] for traced tc programs): give its `SEC_*` constant (reserved below) a
//! payload struct in `bpf/event.h`, append it in `bpf/handle.h` as `add_packet` does (8-byte aligned, padding
//! zeroed, `head.size`/`nsections`/`sections` updated), mirror the payload here with a decoder like
//! [`Record::packet`], and add the struct and enum to `tests/layout.rs` and `struct pwru_contract`. Readers skip
//! kinds they do not know, so no other section changes.

/// [`RecordHead::rtype`]: an skb event ([`RawEvent`]).
pub const REC_EVENT: u8 = 0;
/// [`RecordHead::rtype`], reserved: a BPF map operation on the tracked packet's path (issue 12), with its own fixed
/// part.
pub const REC_MAP_OP: u8 = 1;

/// Section kind: the packet's first bytes ([`PacketHead`] and the bytes).
pub const SEC_PACKET: u16 = 1;
/// Section kind: `__sk_buff->cb[0..4]` ([`SkbCb`]).
pub const SEC_SKB_CB: u16 = 2;
/// Section kind: what a traced tc or XDP program returned ([`VerdictSection`]), on its fexit event.
pub const SEC_VERDICT: u16 = 3;
/// Section kind: the values of BTF expressions, in the order of the loader's list; [`SECF_XDP`] when they are of
/// the `struct xdp_buff` (`--output-xdp-metadata`), else of the `struct sk_buff`.
pub const SEC_BTF_VALUES: u16 = 4;
/// Section kind, reserved: `bpf_snprintf_btf()` text of a struct (issue 11); [`SECF_CUT`] when it did not fit.
pub const SEC_BTF_DUMP: u16 = 5;
/// Section kind: the tunnel of a VXLAN/Geneve packet and its inner tuple ([`TunnelSection`]).
pub const SEC_TUNNEL: u16 = 6;
/// Section kind: a BPF map operation of a traced program ([`MapOpSection`]).
pub const SEC_MAP_OP: u16 = 7;

/// Section flag: the payload was cut to fit its buffer.
pub const SECF_CUT: u16 = 1 << 0;
/// Section flag of [`SEC_BTF_VALUES`]: the values are over the traced XDP program's `struct xdp_buff`.
pub const SECF_XDP: u16 = 1 << 1;

/// [`DumpHead::what`]: the dump is of the `struct sk_buff`.
pub const DUMP_SKB: u8 = 0;
/// [`DumpHead::what`]: the dump is of the skb's `struct skb_shared_info`.
pub const DUMP_SHINFO: u8 = 1;
/// Largest [`SEC_BTF_VALUES`] payload: btf-expr's `MAX_AREA`.
pub const BTF_AREA_MAX: u32 = 1024;
/// Largest text buffer of a [`SEC_BTF_DUMP`] ([`crate::Config::percpu_buf`] is at most this).
pub const DUMP_BUF_MAX: u32 = 4096;

/// [`PacketHead::start`]: the bytes start at the MAC header.
pub const PKT_START_L2: u8 = 0;
/// [`PacketHead::start`]: the bytes start at the network header (the skb had no MAC header).
pub const PKT_START_L3: u8 = 1;

/// The largest snaplen the probes take ([`crate::Config::snaplen`] is capped to it).
pub const SNAPLEN_MAX: u32 = 16384;
/// Key bytes a [`MapOpSection`] holds.
pub const MAPOP_KEY_MAX: u32 = 64;
/// Value bytes a [`MapOpSection`] holds.
pub const MAPOP_VALUE_MAX: u32 = 128;

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
/// `flags`: a BPF helper called by the traced program `probe_id` (kprobe kind; `caller_ip` is the call).
pub const EV_IN_PROG: u8 = 1 << 6;
/// `flags`: followed by stack (`--filter-track-skb-by-stackid`): an skb the task carrying a selected packet
/// handled, or a `--filter-non-skb-funcs` function run for that packet (`skb` is then the carried skb).
pub const EV_BY_STACK: u8 = 1 << 7;

/// `kind`: a kprobe; `func_ip` is the probed function's address.
pub const EV_KIND_KPROBE: u8 = 0;
/// `kind`: a tracepoint; `probe_id` indexes [`crate::Config::tracepoints`].
pub const EV_KIND_TRACEPOINT: u8 = 1;
/// `kind`: a traced tc program (fentry, or fexit with [`SEC_VERDICT`]); `probe_id` is its program id.
pub const EV_KIND_TC: u8 = 2;
/// `kind`: a traced XDP program; `probe_id` is its program id and `skb` its `struct xdp_buff`.
pub const EV_KIND_XDP: u8 = 3;

/// `struct record_head`: how every ring-buffer record starts.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordHead {
    /// Bytes of the whole record.
    pub size: u16,
    /// `REC_*`.
    pub rtype: u8,
    /// Sections after the fixed part.
    pub nsections: u8,
    /// `1 << kind` for each section kind present.
    pub sections: u32,
}

/// `struct section_head`: the start of each section.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SectionHead {
    /// `SEC_*`.
    pub kind: u16,
    /// Per kind (`SECF_*`).
    pub flags: u16,
    /// Payload bytes after this header, without padding.
    pub len: u32,
}

/// `struct section_packet`: the start of a [`SEC_PACKET`] payload; `cap_len` packet bytes follow.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketHead {
    /// Bytes of the packet from its first byte to its end.
    pub orig_len: u32,
    /// Bytes that follow (at most the snaplen, and only the skb's linear data).
    pub cap_len: u16,
    /// `PKT_START_*`.
    pub start: u8,
    /// Padding.
    pub _pad: u8,
}

/// `struct section_dump`: the start of a [`SEC_BTF_DUMP`] payload; the text follows.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DumpHead {
    /// `bpf_snprintf_btf()`'s answer: the text's full length, or `-errno`.
    pub ret: i32,
    /// `DUMP_*`.
    pub what: u8,
    /// Padding.
    pub _pad: [u8; 3],
}

/// `struct section_tunnel`: the [`SEC_TUNNEL`] payload, the tunnel of a VXLAN/Geneve packet and its inner tuple.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunnelSection {
    /// `TUN_*`.
    pub kind: u8,
    /// `TUNF_*`.
    pub flags: u8,
    /// The inner packet's `IPPROTO_*`, with [`TUNF_HAS_TUPLE`].
    pub l4_proto: u8,
    /// The inner TCP flags byte.
    pub tcp_flags: u8,
    /// The VXLAN/Geneve network identifier, with [`TUNF_HAS_VNI`].
    pub vni: u32,
    /// Inner source port, host byte order.
    pub sport: u16,
    /// Inner destination port, host byte order.
    pub dport: u16,
    /// Padding.
    pub _pad: u32,
    /// Inner source address (IPv4 in the first 4 bytes unless [`TUNF_IPV6`]).
    pub saddr: [u8; 16],
    /// Inner destination address.
    pub daddr: [u8; 16],
}

/// [`TunnelSection::kind`]: VXLAN (UDP to port 4789 or 8472).
pub const TUN_VXLAN: u8 = 1;
/// [`TunnelSection::kind`]: Geneve (UDP to port 6081).
pub const TUN_GENEVE: u8 = 2;
/// [`TunnelSection::kind`]: encapsulated by this kernel (inner headers set; any tunnel).
pub const TUN_ENCAP: u8 = 3;
/// [`TunnelSection::flags`]: `vni` is valid.
pub const TUNF_HAS_VNI: u8 = 1 << 0;
/// [`TunnelSection::flags`]: the inner packet is IP: addresses, `l4_proto` (and ports) are valid.
pub const TUNF_HAS_TUPLE: u8 = 1 << 1;
/// [`TunnelSection::flags`]: the inner addresses are IPv6.
pub const TUNF_IPV6: u8 = 1 << 2;

/// `struct section_map_op`: the [`SEC_MAP_OP`] payload, a lookup, update or delete a traced program did on a map
/// while it ran on the event's packet.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapOpSection {
    /// The map's id.
    pub map_id: u32,
    /// `enum bpf_map_type`.
    pub map_type: u32,
    /// The map's key size.
    pub key_size: u32,
    /// The map's value size.
    pub value_size: u32,
    /// Key bytes in `data`.
    pub key_len: u16,
    /// Value bytes in `data`, after the key.
    pub value_len: u16,
    /// `MAPOP_*`.
    pub op: u8,
    /// `MAPF_*`.
    pub flags: u8,
    /// Padding.
    pub _pad: [u8; 2],
    /// The map's name, NUL-terminated.
    pub name: [u8; 16],
    /// The key, then the value.
    pub data: [u8; (MAPOP_KEY_MAX + MAPOP_VALUE_MAX) as usize],
}

impl MapOpSection {
    /// The map's name.
    pub fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(16);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }

    /// The key bytes held.
    pub fn key(&self) -> &[u8] {
        &self.data[..(self.key_len as usize).min(MAPOP_KEY_MAX as usize)]
    }

    /// The value bytes held, with [`MAPF_VALUE`].
    pub fn value(&self) -> Option<&[u8]> {
        let k = self.key().len();
        let v = (self.value_len as usize).min(MAPOP_VALUE_MAX as usize);
        (self.flags & MAPF_VALUE != 0).then(|| &self.data[k..k + v])
    }
}

/// [`MapOpSection::op`]: a lookup.
pub const MAPOP_LOOKUP: u8 = 1;
/// [`MapOpSection::op`]: an update.
pub const MAPOP_UPDATE: u8 = 2;
/// [`MapOpSection::op`]: a delete.
pub const MAPOP_DELETE: u8 = 3;
/// [`MapOpSection::flags`]: the lookup found the key.
pub const MAPF_HIT: u8 = 1 << 0;
/// [`MapOpSection::flags`]: value bytes follow the key.
pub const MAPF_VALUE: u8 = 1 << 1;

/// `struct event`: the fixed part of a [`REC_EVENT`] record, one skb seen by one probe.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawEvent {
    /// The record header.
    pub head: RecordHead,
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
    /// Reads the fixed part from the start of a record's bytes; `None` if they are too short.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        pod(b)
    }
}

/// Reads a plain-old-data struct from the start of `b`.
fn pod<T: Copy + Pod>(b: &[u8]) -> Option<T> {
    if b.len() < std::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: T is one of this module's repr(C) structs of integers (sealed by `Pod`), valid for any bytes, and the
    // length was checked.
    Some(unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<T>()) })
}

// Sections are aligned from the record's start, and the fixed part keeps that alignment for the tail.
const _: () = assert!(std::mem::size_of::<RawEvent>().is_multiple_of(8));

/// The structs [`pod`] may read.
trait Pod {}
impl Pod for RawEvent {}
impl Pod for SectionHead {}
impl Pod for PacketHead {}
impl Pod for DumpHead {}
impl Pod for SkbCb {}
impl Pod for VerdictSection {}
impl Pod for ProgRef {}

/// `struct section_skb_cb`: the [`SEC_SKB_CB`] payload.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SkbCb {
    /// `__sk_buff->cb[0..4]`.
    pub cb: [u32; 5],
}

/// `struct section_verdict`: the [`SEC_VERDICT`] payload.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerdictSection {
    /// What the program returned (`TC_ACT_*`, `XDP_*`); for a tail-call chain, what its last program returned.
    pub retval: i32,
    /// Padding.
    pub _pad: u32,
}

/// `struct prog_ref`: one record of the `bpf_prog` iterator.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgRef {
    /// Program id.
    pub id: u32,
    /// `enum bpf_prog_type`.
    pub prog_type: u32,
    /// The program's reference count, the iterator's own reference included.
    pub refcnt: i64,
}

impl ProgRef {
    /// The records of one read of the iterator.
    pub fn parse_all(b: &[u8]) -> Vec<ProgRef> {
        b.chunks_exact(std::mem::size_of::<ProgRef>())
            .filter_map(pod)
            .collect()
    }
}
impl Pod for TunnelSection {}
impl Pod for MapOpSection {}

/// One section of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section<'a> {
    /// `SEC_*`.
    pub kind: u16,
    /// Per kind (`SECF_*`).
    pub flags: u16,
    /// The payload.
    pub data: &'a [u8],
}

/// Where [`Packet::bytes`] start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketStart {
    /// At the MAC (Ethernet) header.
    L2,
    /// At the network (IP) header: the skb had no MAC header.
    L3,
}

/// The [`SEC_PACKET`] section: the packet's first bytes as the kernel held them at the probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Bytes of the packet from its first byte to its end (what was on the wire from there).
    pub orig_len: u32,
    /// Where the bytes start.
    pub start: PacketStart,
    /// The bytes copied: at most the snaplen, and only the skb's linear data.
    pub bytes: &'a [u8],
}

/// One event record read from the ring: the fixed part (also through `Deref`) and the raw bytes of its sections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// The fixed part.
    pub event: RawEvent,
    /// The bytes after the fixed part, up to `head.size` (empty without sections: no allocation).
    pub tail: Vec<u8>,
}

impl Record {
    /// Parses an event record; `None` if it is shorter than its fixed part or not a [`REC_EVENT`]. Bytes past
    /// `head.size` are ignored.
    pub fn from_bytes(b: &[u8]) -> Option<Record> {
        let event = RawEvent::from_bytes(b)?;
        if event.head.rtype != REC_EVENT {
            return None;
        }
        let fixed = std::mem::size_of::<RawEvent>();
        let end = (event.head.size as usize).clamp(fixed, b.len());
        Some(Record {
            event,
            tail: b[fixed..end].to_vec(),
        })
    }

    /// The sections, in record order. A section that claims more bytes than the record has ends the walk.
    pub fn sections(&self) -> impl Iterator<Item = Section<'_>> {
        let mut off = 0usize;
        let mut left = self.event.head.nsections;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            // Sections start 8-byte aligned from the record's start; the fixed part is a multiple of 8.
            off = off.next_multiple_of(8);
            let h: SectionHead = pod(self.tail.get(off..)?)?;
            let start = off + std::mem::size_of::<SectionHead>();
            let data = self.tail.get(start..start.checked_add(h.len as usize)?)?;
            off = start + data.len();
            Some(Section {
                kind: h.kind,
                flags: h.flags,
                data,
            })
        })
    }

    /// The first section of `kind`, if the record has one.
    pub fn section(&self, kind: u16) -> Option<Section<'_>> {
        if self.event.head.sections & (1u32.checked_shl(kind as u32)?) == 0 {
            return None;
        }
        self.sections().find(|s| s.kind == kind)
    }

    /// `__sk_buff->cb[0..4]` ([`SEC_SKB_CB`]), when the tracer was asked for them.
    pub fn skb_cb(&self) -> Option<[u32; 5]> {
        pod::<SkbCb>(self.section(SEC_SKB_CB)?.data).map(|c| c.cb)
    }

    /// What the traced program returned ([`SEC_VERDICT`]): present on the fexit events of tc and XDP programs.
    pub fn verdict(&self) -> Option<i32> {
        pod::<VerdictSection>(self.section(SEC_VERDICT)?.data).map(|v| v.retval)
    }

    /// The tunnel section ([`SEC_TUNNEL`]): present on tunnel packets when the tracer was loaded with
    /// [`crate::TunnelConfig::output`].
    pub fn tunnel(&self) -> Option<TunnelSection> {
        pod(self.section(SEC_TUNNEL)?.data)
    }

    /// The map operation ([`SEC_MAP_OP`]): present on the events of the map operation probes.
    pub fn map_op(&self) -> Option<MapOpSection> {
        pod(self.section(SEC_MAP_OP)?.data)
    }

    /// The packet bytes ([`SEC_PACKET`]), when the tracer was loaded with a snaplen.
    pub fn packet(&self) -> Option<Packet<'_>> {
        let s = self.section(SEC_PACKET)?;
        let h: PacketHead = pod(s.data)?;
        let bytes = s.data.get(std::mem::size_of::<PacketHead>()..)?;
        let bytes = bytes.get(..h.cap_len as usize)?;
        Some(Packet {
            orig_len: h.orig_len,
            start: if h.start == PKT_START_L3 {
                PacketStart::L3
            } else {
                PacketStart::L2
            },
            bytes,
        })
    }
}

/// A [`SEC_BTF_DUMP`] section: a struct as the kernel printed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BtfDump<'a> {
    /// `DUMP_*`: which struct.
    pub what: u8,
    /// The text, without its NUL (empty when the kernel refused: see `ret`).
    pub text: &'a [u8],
    /// The text did not fit in the buffer ([`SECF_CUT`]).
    pub cut: bool,
    /// `bpf_snprintf_btf()`'s answer: the full length, or `-errno`.
    pub ret: i32,
}

/// A [`SEC_BTF_VALUES`] section: the output area of one of the spliced BTF-expression fetchers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BtfValues<'a> {
    /// The fetcher rooted at the traced XDP program's `struct xdp_buff` wrote it ([`SECF_XDP`]), not the one
    /// rooted at the `struct sk_buff`.
    pub xdp: bool,
    /// The output area.
    pub area: &'a [u8],
}

impl Record {
    /// The BTF-expression values ([`SEC_BTF_VALUES`]), with `--output-skb-metadata` or `--output-xdp-metadata`.
    pub fn btf_values(&self) -> Option<BtfValues<'_>> {
        let s = self.section(SEC_BTF_VALUES)?;
        Some(BtfValues {
            xdp: s.flags & SECF_XDP != 0,
            area: s.data,
        })
    }

    /// The struct dumps ([`SEC_BTF_DUMP`]), in record order.
    pub fn btf_dumps(&self) -> impl Iterator<Item = BtfDump<'_>> {
        self.sections()
            .filter(|s| s.kind == SEC_BTF_DUMP)
            .filter_map(|s| {
                let h: DumpHead = pod(s.data)?;
                Some(BtfDump {
                    what: h.what,
                    text: s.data.get(std::mem::size_of::<DumpHead>()..)?,
                    cut: s.flags & SECF_CUT != 0,
                    ret: h.ret,
                })
            })
    }
}

impl std::ops::Deref for Record {
    type Target = RawEvent;

    fn deref(&self) -> &RawEvent {
        &self.event
    }
}

impl From<RawEvent> for Record {
    fn from(event: RawEvent) -> Record {
        Record {
            event,
            tail: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of<T>(v: &T) -> Vec<u8> {
        // SAFETY: reading the bytes of a repr(C) POD value.
        unsafe {
            std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>())
        }
        .to_vec()
    }

    /// A record as the probes build it: fixed part, then the given (kind, payload) sections, 8-byte aligned.
    fn record(sections: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut ev = RawEvent::default();
        ev.head.rtype = REC_EVENT;
        ev.head.nsections = sections.len() as u8;
        let mut tail = Vec::new();
        for (kind, data) in sections {
            while tail.len() % 8 != 0 {
                tail.push(0);
            }
            ev.head.sections |= 1 << kind;
            tail.extend(bytes_of(&SectionHead {
                kind: *kind,
                flags: 0,
                len: data.len() as u32,
            }));
            tail.extend(data);
        }
        ev.head.size = (std::mem::size_of::<RawEvent>() + tail.len()) as u16;
        let mut b = bytes_of(&ev);
        b.extend(tail);
        b
    }

    fn packet(start: u8, orig: u32, bytes: &[u8]) -> Vec<u8> {
        let mut p = bytes_of(&PacketHead {
            orig_len: orig,
            cap_len: bytes.len() as u16,
            start,
            _pad: 0,
        });
        p.extend_from_slice(bytes);
        p
    }

    #[test]
    fn sections_are_found_past_unknown_kinds() {
        let b = record(&[
            (SEC_TUNNEL, vec![7; 13]),
            (SEC_PACKET, packet(PKT_START_L3, 84, &[0x45, 0, 0, 84])),
        ]);
        let r = Record::from_bytes(&b).unwrap();
        let kinds: Vec<u16> = r.sections().map(|s| s.kind).collect();
        assert_eq!(kinds, [SEC_TUNNEL, SEC_PACKET]);
        let p = r.packet().unwrap();
        assert_eq!(
            (p.orig_len, p.start, p.bytes),
            (84, PacketStart::L3, &[0x45, 0, 0, 84][..])
        );
        // Through Deref, a record reads like its fixed part.
        assert_eq!(r.head.nsections, 2);
    }

    #[test]
    fn records_without_sections_and_damaged_ones() {
        let b = record(&[]);
        let r = Record::from_bytes(&b).unwrap();
        assert!(r.tail.is_empty() && r.packet().is_none());
        assert!(Record::from_bytes(&b[..10]).is_none());
        // A section longer than the record ends the walk instead of reading past it.
        let mut b = record(&[(SEC_PACKET, packet(PKT_START_L2, 98, &[1, 2, 3]))]);
        b.truncate(b.len() - 2);
        let r = Record::from_bytes(&b).unwrap();
        assert_eq!(r.sections().count(), 0);
        assert!(r.packet().is_none());
        // Another record type is not an event.
        let mut b = record(&[]);
        b[2] = REC_MAP_OP;
        assert!(Record::from_bytes(&b).is_none());
    }

    #[test]
    fn btf_values_and_dumps() {
        let dump = |what: u8, ret: i32, text: &[u8]| {
            let mut d = bytes_of(&DumpHead {
                ret,
                what,
                _pad: [0; 3],
            });
            d.extend_from_slice(text);
            d
        };
        let mut b = record(&[
            (SEC_PACKET, packet(PKT_START_L2, 98, &[1, 2, 3])),
            (SEC_BTF_VALUES, vec![9; 16]),
            (SEC_BTF_DUMP, dump(DUMP_SKB, 5000, b"(struct sk_buff){")),
            (SEC_BTF_DUMP, dump(DUMP_SHINFO, -14, b"")),
        ]);
        // The skb dump was cut: flag it in its section head.
        let fixed = std::mem::size_of::<RawEvent>();
        let skb_head = fixed + 24 + 24; // after the packet (8 + 8 + 3, aligned) and the values (8 + 16)
        assert_eq!(b[skb_head], SEC_BTF_DUMP as u8, "the third section's head");
        b[skb_head + 2] = SECF_CUT as u8;
        // The values are an xdp_buff's.
        assert_eq!(
            b[fixed + 24],
            SEC_BTF_VALUES as u8,
            "the second section's head"
        );
        b[fixed + 24 + 2] = SECF_XDP as u8;
        let r = Record::from_bytes(&b).unwrap();
        let values = BtfValues {
            xdp: true,
            area: &[9u8; 16],
        };
        assert_eq!(r.btf_values(), Some(values));
        let dumps: Vec<BtfDump> = r.btf_dumps().collect();
        assert_eq!(
            dumps,
            [
                BtfDump {
                    what: DUMP_SKB,
                    text: b"(struct sk_buff){",
                    cut: true,
                    ret: 5000
                },
                BtfDump {
                    what: DUMP_SHINFO,
                    text: b"",
                    cut: false,
                    ret: -14
                }
            ]
        );
        assert!(
            Record::from_bytes(&record(&[]))
                .unwrap()
                .btf_values()
                .is_none()
        );
    }
}
