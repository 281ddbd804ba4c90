//! Test helpers: a small BTF reader (tracepoint prototypes, enum values from the running kernel), a pair of
//! network namespaces joined by a veth (removed on drop), and command runners.
#![allow(dead_code)]
use probes::{ArgIndex, TracepointTarget};
use std::process::Command;

pub fn u32_at(d: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(d[off..off + 4].try_into().unwrap())
}

pub struct Ty {
    pub kind: u32,
    pub name: String,
    pub vlen: usize,
    pub size_type: u32,
    /// The words after the 12-byte header (members, params, enum values, ...).
    pub extra: Vec<u32>,
    /// Names of members / parameters / enumerators.
    pub member_names: Vec<String>,
}

pub struct Btf {
    pub types: Vec<Ty>, // index = type id; 0 is void
}

impl Btf {
    pub fn parse(btf: &[u8]) -> Btf {
        assert_eq!(u16::from_le_bytes([btf[0], btf[1]]), 0xeb9f, "BTF magic");
        let hdr = u32_at(btf, 4) as usize;
        let (type_off, type_len) = (u32_at(btf, 8) as usize, u32_at(btf, 12) as usize);
        let str_off = u32_at(btf, 16) as usize;
        let strings = &btf[hdr + str_off..];
        let name = |off: u32| -> String {
            let s = &strings[off as usize..];
            String::from_utf8_lossy(&s[..s.iter().position(|&c| c == 0).unwrap()]).into_owned()
        };
        let data = &btf[hdr + type_off..hdr + type_off + type_len];
        let mut types = vec![Ty {
            kind: 0,
            name: String::new(),
            vlen: 0,
            size_type: 0,
            extra: vec![],
            member_names: vec![],
        }];
        let mut p = 0;
        while p < data.len() {
            let info = u32_at(data, p + 4);
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let extra_bytes = match kind {
                1 | 14 | 17 => 4,
                3 => 12,
                4 | 5 | 15 | 19 => vlen * 12,
                6 | 13 => vlen * 8,
                _ => 0,
            };
            let extra: Vec<u32> = (0..extra_bytes / 4)
                .map(|i| u32_at(data, p + 12 + i * 4))
                .collect();
            let member_names = match kind {
                4 | 5 | 19 => extra.chunks(3).map(|c| name(c[0])).collect(),
                6 | 13 => extra.chunks(2).map(|c| name(c[0])).collect(),
                _ => Vec::new(),
            };
            types.push(Ty {
                kind,
                name: name(u32_at(data, p)),
                vlen,
                size_type: u32_at(data, p + 8),
                extra,
                member_names,
            });
            p += 12 + extra_bytes;
        }
        Btf { types }
    }

    pub fn vmlinux() -> Btf {
        Btf::parse(&std::fs::read("/sys/kernel/btf/vmlinux").expect("read /sys/kernel/btf/vmlinux"))
    }

    /// Follows typedefs and qualifiers.
    fn strip(&self, mut id: u32) -> u32 {
        while matches!(self.types[id as usize].kind, 8 | 9 | 10 | 11 | 18) {
            id = self.types[id as usize].size_type;
        }
        id
    }

    fn is_ptr_to_struct(&self, id: u32, want: &str) -> bool {
        let t = &self.types[self.strip(id) as usize];
        if t.kind != 2 {
            return false;
        }
        let s = &self.types[self.strip(t.size_type) as usize];
        s.kind == 4 && s.name == want
    }

    fn is_enum(&self, id: u32, want: &str) -> bool {
        let t = &self.types[self.strip(id) as usize];
        matches!(t.kind, 6 | 19) && t.name == want
    }

    /// Every tracepoint with a `struct sk_buff *` among its first five arguments, from the `btf_trace_<name>`
    /// typedefs, with the position of an `enum skb_drop_reason` argument.
    pub fn skb_tracepoints(&self) -> Vec<TracepointTarget> {
        let mut out = Vec::new();
        for t in &self.types {
            let Some(name) = t.name.strip_prefix("btf_trace_") else {
                continue;
            };
            if t.kind != 8 {
                continue;
            }
            let ptr = &self.types[self.strip(t.size_type) as usize];
            if ptr.kind != 2 {
                continue;
            }
            let proto = &self.types[self.strip(ptr.size_type) as usize];
            if proto.kind != 13 {
                continue;
            }
            // params: (name_off, type) pairs; the first is the `void *` context
            let params: Vec<u32> = proto.extra.chunks(2).skip(1).map(|p| p[1]).collect();
            let Some(skb) = params
                .iter()
                .position(|&ty| self.is_ptr_to_struct(ty, "sk_buff"))
            else {
                continue;
            };
            let reason = params
                .iter()
                .position(|&ty| self.is_enum(ty, "skb_drop_reason"));
            let t = TracepointTarget {
                name: name.to_string(),
                skb_arg: ArgIndex(skb as u8),
                reason_arg: reason.map(|r| ArgIndex(r as u8)),
                nargs: params.len() as u8,
            };
            if t.supported() {
                out.push(t);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Every kernel function with a `struct sk_buff *` among its first five parameters, as probes targets
    /// (reason argument for kfree_skb_reason-style and sk_skb_reason_drop-style signatures).
    pub fn skb_functions(&self) -> Vec<probes::Target> {
        let mut out = Vec::new();
        for t in &self.types {
            if t.kind != 12 {
                continue;
            }
            let proto = &self.types[t.size_type as usize];
            if proto.kind != 13 {
                continue;
            }
            let params: Vec<u32> = proto.extra.chunks(2).map(|p| p[1]).collect();
            let Some(skb) = params
                .iter()
                .take(5)
                .position(|&ty| self.is_ptr_to_struct(ty, "sk_buff"))
            else {
                continue;
            };
            let reason = params
                .iter()
                .take(5)
                .position(|&ty| self.is_enum(ty, "skb_drop_reason"));
            out.push(probes::Target {
                name: t.name.clone(),
                module: None,
                skb_arg: ArgIndex(skb as u8),
                reason_arg: reason.map(|r| ArgIndex(r as u8)),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        out
    }

    /// The value of enumerator `variant` of enum `name`.
    pub fn enum_value(&self, name: &str, variant: &str) -> Option<u32> {
        let t = self.types.iter().find(|t| t.kind == 6 && t.name == name)?;
        let i = t.member_names.iter().position(|n| n == variant)?;
        Some(t.extra[i * 2 + 1])
    }
}

/// Runs a command line through `sh -c`; panics with its output if it fails.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "`{cmd}` failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two network namespaces `a` and `b` joined by a veth pair: `a` has 10.<net>.0.1/24, `b` has 10.<net>.0.2/24.
/// Dropping it deletes both namespaces (and with them the veths), also when a test panics.
pub struct NetnsPair {
    pub a: String,
    pub b: String,
    pub veth_a: String,
    pub veth_b: String,
    pub ip_a: String,
    pub ip_b: String,
}

impl NetnsPair {
    pub fn new(tag: &str, net: u8) -> NetnsPair {
        Self::create(tag, net, false)
    }

    /// Like [`NetnsPair::new`], with IPv6 too: fd00:<net>::1/64 and fd00:<net>::2/64 (no DAD).
    pub fn new_v6(tag: &str, net: u8) -> NetnsPair {
        Self::create(tag, net, true)
    }

    fn create(tag: &str, net: u8, v6: bool) -> NetnsPair {
        let id = std::process::id() % 100_000;
        let p = NetnsPair {
            a: format!("prb-{id}-{tag}-a"),
            b: format!("prb-{id}-{tag}-b"),
            veth_a: format!("pa{id}{tag}"),
            veth_b: format!("pb{id}{tag}"),
            ip_a: format!("10.{net}.0.1"),
            ip_b: format!("10.{net}.0.2"),
        };
        assert!(p.veth_a.len() <= 15, "veth name too long");
        sh(&format!("ip netns add {}", p.a));
        let guard = p; // from here on, Drop cleans up
        sh(&format!("ip netns add {}", guard.b));
        sh(&format!(
            "ip link add {va} netns {a} type veth peer name {vb} netns {b}",
            va = guard.veth_a,
            vb = guard.veth_b,
            a = guard.a,
            b = guard.b
        ));
        for (ns, dev, ip) in [
            (&guard.a, &guard.veth_a, &guard.ip_a),
            (&guard.b, &guard.veth_b, &guard.ip_b),
        ] {
            if v6 {
                let six = if ip.ends_with(".1") { "1" } else { "2" };
                sh(&format!(
                    "ip -n {ns} addr add fd00:{net}::{six}/64 dev {dev} nodad"
                ));
            } else {
                // no IPv6: its autoconfiguration sends packets at random times, which would make counts unstable
                sh(&format!(
                    "ip netns exec {ns} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1"
                ));
                sh(&format!(
                    "ip netns exec {ns} sysctl -qw net.ipv6.conf.{dev}.disable_ipv6=1"
                ));
            }
            sh(&format!("ip -n {ns} addr add {ip}/24 dev {dev}"));
            sh(&format!("ip -n {ns} link set {dev} up"));
            sh(&format!("ip -n {ns} link set lo up"));
        }
        guard
    }

    /// Inode of a namespace (what the probes report as netns).
    pub fn inode(&self, ns: &str) -> u32 {
        sh(&format!("stat -L -c %i /run/netns/{ns}"))
            .trim()
            .parse()
            .unwrap()
    }

    pub fn ifindex(&self, ns: &str, dev: &str) -> u32 {
        sh(&format!(
            "ip netns exec {ns} cat /sys/class/net/{dev}/ifindex"
        ))
        .trim()
        .parse()
        .unwrap()
    }

    pub fn exec(&self, ns: &str, cmd: &str) -> String {
        sh(&format!("ip netns exec {ns} {cmd}"))
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}
