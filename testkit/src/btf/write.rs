//! A BTF writer for hand-built test blobs, base and split, little- or big-endian, malformed on request.

pub use super::kind::*;

/// Builds a BTF blob type by type; each method returns the new type's id.
#[derive(Clone, Debug)]
pub struct BtfBuilder {
    types: Vec<u8>,
    strs: Vec<u8>,
    next_id: u32,
    str_base: u32,
    big_endian: bool,
}

impl Default for BtfBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl BtfBuilder {
    /// An empty little-endian base blob.
    pub fn new() -> Self {
        BtfBuilder {
            types: Vec::new(),
            strs: vec![0],
            next_id: 1,
            str_base: 0,
            big_endian: false,
        }
    }

    /// Split BTF on a base built by `base` (ids and string offsets continue after it).
    pub fn split(base: &BtfBuilder) -> Self {
        BtfBuilder {
            types: Vec::new(),
            strs: Vec::new(),
            next_id: base.next_id,
            str_base: base.str_base + base.strs.len() as u32,
            big_endian: base.big_endian,
        }
    }

    /// The id the next type will get.
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    /// Writes every word big-endian (as an s390x kernel's BTF is).
    pub fn big_endian(mut self) -> Self {
        self.big_endian = true;
        self
    }

    fn u32(&mut self, v: u32) {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.types.extend_from_slice(&b);
    }

    /// Adds a string and returns its offset ("" in a base is offset 0).
    pub fn str(&mut self, s: &str) -> u32 {
        if s.is_empty() && self.str_base == 0 {
            return 0;
        }
        let off = self.str_base + self.strs.len() as u32;
        self.strs.extend_from_slice(s.as_bytes());
        self.strs.push(0);
        off
    }

    fn ty(&mut self, name: &str, kind: u32, vlen: u32, kind_flag: bool, size_type: u32) -> u32 {
        let name_off = if name.is_empty() { 0 } else { self.str(name) };
        self.u32(name_off);
        self.u32((kind_flag as u32) << 31 | kind << 24 | vlen);
        self.u32(size_type);
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// An unsigned integer of `size` bytes.
    pub fn int(&mut self, name: &str, size: u32) -> u32 {
        let id = self.ty(name, INT, 0, false, size);
        self.u32(size * 8);
        id
    }
    /// A pointer to type `to`.
    pub fn ptr(&mut self, to: u32) -> u32 {
        self.ty("", PTR, 0, false, to)
    }
    /// `typedef <to> <name>`.
    pub fn typedef(&mut self, name: &str, to: u32) -> u32 {
        self.ty(name, TYPEDEF, 0, false, to)
    }
    /// A qualifier of `kind` ([`CONST`], [`VOLATILE`], [`RESTRICT`]) on `to`.
    pub fn modifier(&mut self, kind: u32, to: u32) -> u32 {
        self.ty("", kind, 0, false, to)
    }
    /// A type tag (`__user`, `__rcu`) on `to`.
    pub fn type_tag(&mut self, tag: &str, to: u32) -> u32 {
        self.ty(tag, TYPE_TAG, 0, false, to)
    }
    /// A forward declaration of a struct or union.
    pub fn fwd(&mut self, name: &str, is_union: bool) -> u32 {
        self.ty(name, FWD, 0, is_union, 0)
    }
    /// A struct of `size` bytes; member `i` sits at byte `8 * i`.
    pub fn structure(&mut self, name: &str, size: u32, members: &[(&str, u32)]) -> u32 {
        self.aggregate(STRUCT, name, size, members)
    }
    /// A union, laid out like [`BtfBuilder::structure`].
    pub fn union(&mut self, name: &str, size: u32, members: &[(&str, u32)]) -> u32 {
        self.aggregate(UNION, name, size, members)
    }
    fn aggregate(&mut self, kind: u32, name: &str, size: u32, members: &[(&str, u32)]) -> u32 {
        let names: Vec<u32> = members.iter().map(|(n, _)| self.str(n)).collect();
        let id = self.ty(name, kind, members.len() as u32, false, size);
        for (i, (_, t)) in members.iter().enumerate() {
            self.u32(names[i]);
            self.u32(*t);
            self.u32(i as u32 * 64);
        }
        id
    }
    /// A 32-bit enum; `signed` sets its kind flag.
    pub fn enumeration(&mut self, name: &str, signed: bool, vals: &[(&str, i64)]) -> u32 {
        let names: Vec<u32> = vals.iter().map(|(n, _)| self.str(n)).collect();
        let id = self.ty(name, ENUM, vals.len() as u32, signed, 4);
        for (i, (_, v)) in vals.iter().enumerate() {
            self.u32(names[i]);
            self.u32(*v as u32);
        }
        id
    }
    /// A 64-bit enum.
    pub fn enum64(&mut self, name: &str, vals: &[(&str, u64)]) -> u32 {
        let names: Vec<u32> = vals.iter().map(|(n, _)| self.str(n)).collect();
        let id = self.ty(name, ENUM64, vals.len() as u32, false, 8);
        for (i, (_, v)) in vals.iter().enumerate() {
            self.u32(names[i]);
            self.u32(*v as u32);
            self.u32((*v >> 32) as u32);
        }
        id
    }
    /// A function prototype returning `ret` with unnamed parameters of the given types.
    pub fn proto(&mut self, ret: u32, params: &[u32]) -> u32 {
        let id = self.ty("", FUNC_PROTO, params.len() as u32, false, ret);
        for p in params {
            self.u32(0);
            self.u32(*p);
        }
        id
    }
    /// A function of prototype `proto`.
    pub fn func(&mut self, name: &str, proto: u32) -> u32 {
        self.ty(name, FUNC, 1, false, proto)
    }
    /// A FUNC with a fresh FUNC_PROTO returning int (type 0 = void is fine too).
    pub fn func_with(&mut self, name: &str, params: &[u32]) -> u32 {
        let proto = self.proto(0, params);
        self.func(name, proto)
    }
    /// An integer with its full encoding: `encoding` is BTF_INT_SIGNED (1) | CHAR (2) | BOOL (4); `bit_offset`
    /// and `bits` place the value in its storage (old-style bitfields encode their width here).
    pub fn int_encoded(
        &mut self,
        name: &str,
        size: u32,
        encoding: u32,
        bit_offset: u32,
        bits: u32,
    ) -> u32 {
        let id = self.ty(name, INT, 0, false, size);
        self.u32(encoding << 24 | bit_offset << 16 | bits);
        id
    }
    /// `elem[len]`, indexed by type `index`.
    pub fn array(&mut self, elem: u32, index: u32, len: u32) -> u32 {
        let id = self.ty("", ARRAY, 0, false, 0);
        self.u32(elem);
        self.u32(index);
        self.u32(len);
        id
    }
    /// A struct ([`STRUCT`]) or union ([`UNION`]) with members at explicit places: (name, type, bit offset,
    /// bitfield width). Any non-zero width sets the kind flag (bitfields encoded in the members); with none, old-style
    /// bitfields can still come from [`BtfBuilder::int_encoded`] member types.
    pub fn composite(
        &mut self,
        kind: u32,
        name: &str,
        size: u32,
        members: &[(&str, u32, u32, u32)],
    ) -> u32 {
        let kflag = members.iter().any(|m| m.3 > 0);
        let names: Vec<u32> = members.iter().map(|m| self.str(m.0)).collect();
        let id = self.ty(name, kind, members.len() as u32, kflag, size);
        for (m, n) in members.iter().zip(names) {
            self.u32(n);
            self.u32(m.1);
            self.u32(if kflag { m.3 << 24 | m.2 } else { m.2 });
        }
        id
    }
    /// An enum of `size` bytes (an ENUM64 for 8); `signed` sets its kind flag.
    pub fn enum_sized(&mut self, name: &str, size: u32, signed: bool, vals: &[(&str, i64)]) -> u32 {
        let names: Vec<u32> = vals.iter().map(|(n, _)| self.str(n)).collect();
        let kind = if size == 8 { ENUM64 } else { ENUM };
        let id = self.ty(name, kind, vals.len() as u32, signed, size);
        for (i, (_, v)) in vals.iter().enumerate() {
            self.u32(names[i]);
            self.u32(*v as u32);
            if kind == ENUM64 {
                self.u32((*v >> 32) as u32);
            }
        }
        id
    }
    /// A floating-point type of `size` bytes.
    pub fn float(&mut self, name: &str, size: u32) -> u32 {
        self.ty(name, FLOAT, 0, false, size)
    }
    /// A raw record of any kind, for malformed-input tests.
    pub fn raw(&mut self, name: &str, kind: u32, vlen: u32, size_type: u32) -> u32 {
        self.ty(name, kind, vlen, false, size_type)
    }

    /// The blob: 24-byte header, types, strings.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let w16 = |out: &mut Vec<u8>, v: u16| {
            out.extend_from_slice(&if self.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        let w32 = |out: &mut Vec<u8>, v: u32| {
            out.extend_from_slice(&if self.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            })
        };
        w16(&mut out, 0xeb9f);
        out.push(1);
        out.push(0);
        w32(&mut out, 24);
        w32(&mut out, 0);
        w32(&mut out, self.types.len() as u32);
        w32(&mut out, self.types.len() as u32);
        w32(&mut out, self.strs.len() as u32);
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strs);
        out
    }
}

/// A base holding what skb discovery looks for, with the ids of its types.
#[derive(Clone, Debug)]
pub struct Base {
    /// The builder, to add more types.
    pub b: BtfBuilder,
    /// `int`.
    pub int: u32,
    /// `struct sk_buff`.
    pub skb: u32,
    /// `struct sk_buff *`.
    pub skb_ptr: u32,
    /// `struct sock *`.
    pub sock_ptr: u32,
    /// `enum skb_drop_reason` (NOT_DROPPED_YET, CONSUMED, NOT_SPECIFIED, NO_SOCKET, MAX, SUBSYS_MASK).
    pub reason: u32,
    /// `void *`.
    pub void_ptr: u32,
}

impl Base {
    /// Adds `ip_rcv(skb)` and `ip_rcv_finish(sk, sk, skb)` (the skb third, like the kernel's `(net, sk, skb)`).
    pub fn with_ip_rcv(mut self) -> Base {
        self.b.func_with("ip_rcv", &[self.skb_ptr]);
        self.b.func_with(
            "ip_rcv_finish",
            &[self.sock_ptr, self.sock_ptr, self.skb_ptr],
        );
        self
    }
}

/// A new [`Base`]: `int`, `struct sk_buff` and `struct sock` with pointers to them, `enum skb_drop_reason`, `void *`.
pub fn base() -> Base {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4);
    let skb = b.structure("sk_buff", 232, &[("len", int)]);
    let skb_ptr = b.ptr(skb);
    let sock = b.structure("sock", 64, &[("x", int)]);
    let sock_ptr = b.ptr(sock);
    let reason = b.enumeration(
        "skb_drop_reason",
        false,
        &[
            ("SKB_NOT_DROPPED_YET", 0),
            ("SKB_CONSUMED", 1),
            ("SKB_DROP_REASON_NOT_SPECIFIED", 2),
            ("SKB_DROP_REASON_NO_SOCKET", 3),
            ("SKB_DROP_REASON_MAX", 4),
            ("SKB_DROP_REASON_SUBSYS_MASK", 0xffff0000u32 as i64),
        ],
    );
    let void_ptr = b.ptr(0);
    Base {
        b,
        int,
        skb,
        skb_ptr,
        sock_ptr,
        reason,
        void_ptr,
    }
}
