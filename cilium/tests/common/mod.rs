//! Test-only fixture writer: a private bpffs with maps created exactly as the Cilium agent creates them (type, key
//! and value sizes, flags), filled with a small cluster. Nothing here is reachable from the tool.

#![allow(dead_code)]

pub mod cluster;
pub mod drop_prog;

use bpf_sys::map::{Map, MapSpec};
pub use bpf_sys::uapi::bpf_map_type;
use bpf_sys::uapi::{bpf_insn, bpf_prog_type};
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

pub const HASH: bpf_map_type = bpf_map_type::BPF_MAP_TYPE_HASH;
pub const PERF_EVENT_ARRAY: bpf_map_type = bpf_map_type::BPF_MAP_TYPE_PERF_EVENT_ARRAY;
pub const PERCPU_HASH: bpf_map_type = bpf_map_type::BPF_MAP_TYPE_PERCPU_HASH;
pub const LRU_HASH: bpf_map_type = bpf_map_type::BPF_MAP_TYPE_LRU_HASH;
pub const LRU_PERCPU_HASH: bpf_map_type = bpf_map_type::BPF_MAP_TYPE_LRU_PERCPU_HASH;
pub const LPM_TRIE: bpf_map_type = bpf_map_type::BPF_MAP_TYPE_LPM_TRIE;
pub const BPF_F_NO_PREALLOC: u32 = 1;
pub const BPF_F_NO_COMMON_LRU: u32 = 2;

/// `pwru cilium <command>` as the binary parses it.
#[derive(clap::Parser)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: cilium::Command,
}

/// `cilium::run` on `pwru cilium ARGS --bpffs ROOT --clock none`; the bpffs root shows as `$BPFFS` in the output.
pub fn run(fs: &Bpffs, args: &[&str]) -> anyhow::Result<String> {
    use clap::Parser;
    let root = fs.root.to_str().unwrap();
    let mut argv = vec!["pwru-cilium"];
    argv.extend(args);
    argv.extend(["--bpffs", root, "--clock", "none"]);
    let cli = Cli::try_parse_from(&argv)?;
    let mut out = Vec::new();
    cilium::run(&cli.cmd, &mut out)?;
    Ok(String::from_utf8(out)?.replace(root, "$BPFFS"))
}

/// A bpf filesystem mounted on a fresh temp dir; unmounted and removed on drop (also when a test panics).
pub struct Bpffs {
    pub root: PathBuf,
    _mount: testkit::Mount,
}

impl Bpffs {
    pub fn new(tag: &str) -> Bpffs {
        testkit::need_root("BPF maps, mounting bpffs");
        let mount = testkit::Mount::new("bpf", &format!("pwru-cilium-{tag}"));
        let fs = Bpffs {
            root: mount.path().to_path_buf(),
            _mount: mount,
        };
        std::fs::create_dir_all(fs.globals()).unwrap();
        fs
    }

    pub fn globals(&self) -> PathBuf {
        self.root.join("tc/globals")
    }

    /// Creates a map and pins it under `tc/globals/<name>`.
    pub fn create(
        &self,
        name: &str,
        ty: bpf_map_type,
        key: u32,
        value: u32,
        max: u32,
        flags: u32,
    ) -> TestMap {
        let mut spec = MapSpec::new(ty, name, key, value, max);
        spec.flags = flags;
        let map = Map::create(&spec).unwrap_or_else(|e| panic!("BPF_MAP_CREATE {name}: {e:?}"));
        let path = self.globals().join(name);
        map.pin(&path)
            .unwrap_or_else(|e| panic!("BPF_OBJ_PIN {}: {e:?}", path.display()));
        TestMap { map }
    }
}

pub struct TestMap {
    pub map: Map,
}

pub fn ncpus() -> usize {
    bpf_sys::map::possible_cpus().unwrap()
}

impl TestMap {
    /// Inserts `value`; in a per-CPU map CPU 0 gets it and CPU 1 the same again (so sums are 2x).
    pub fn put(&self, key: &[u8], value: &[u8]) {
        assert_eq!(
            value.len(),
            self.map.info().value_size as usize,
            "fixture value size"
        );
        let mut buf = vec![0u8; self.map.value_len()];
        let stride = value.len().div_ceil(8) * 8;
        let copies = if buf.len() > value.len() {
            ncpus().min(2)
        } else {
            1
        };
        for c in 0..copies {
            buf[c * stride..c * stride + value.len()].copy_from_slice(value);
        }
        self.map
            .update(key, &buf, 0)
            .unwrap_or_else(|e| panic!("BPF_MAP_UPDATE_ELEM: {e:?}"));
    }
}

// ---- struct packers (from the C layouts, independent of the crate's decoders) ----

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
fn ipb(a: &str) -> Vec<u8> {
    match ip(a) {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// `ipv4_ct_tuple`: daddr, saddr, dport be, sport be, nexthdr, flags.
pub fn ct_key(daddr: &str, saddr: &str, dport: u16, sport: u16, proto: u8, flags: u8) -> Vec<u8> {
    let mut b = ipb(daddr);
    b.extend(ipb(saddr));
    b.extend(dport.to_be_bytes());
    b.extend(sport.to_be_bytes());
    b.extend([proto, flags]);
    b
}

pub struct Ct {
    pub backend_id: u64,
    pub packets: u64,
    pub bytes: u64,
    pub lifetime: u32,
    pub flags: u16,
    pub rev_nat: u16,
    pub ifindex: u16,
    pub tx_seen: u8,
    pub rx_seen: u8,
    pub src_sec_id: u32,
}

pub fn ct_val(c: Ct) -> Vec<u8> {
    let mut b = vec![0u8; 8];
    b.extend(c.backend_id.to_le_bytes());
    b.extend(c.packets.to_le_bytes());
    b.extend(c.bytes.to_le_bytes());
    b.extend(c.lifetime.to_le_bytes());
    b.extend(c.flags.to_le_bytes());
    b.extend(c.rev_nat.to_be_bytes());
    b.extend(c.ifindex.to_le_bytes());
    b.extend([c.tx_seen, c.rx_seen]);
    b.extend(c.src_sec_id.to_le_bytes());
    b.extend((c.lifetime - 10).to_le_bytes());
    b.extend((c.lifetime - 5).to_le_bytes());
    b
}

/// NAT key in packet orientation.
pub fn nat_key(saddr: &str, sport: u16, daddr: &str, dport: u16, proto: u8, flags: u8) -> Vec<u8> {
    ct_key(daddr, saddr, dport, sport, proto, flags)
}

pub fn nat_val(created: u64, to: &str, port: u16) -> Vec<u8> {
    let mut b = created.to_le_bytes().to_vec();
    b.extend(1u64.to_le_bytes());
    b.extend([0u8; 16]);
    let a = ipb(to);
    let pad = if a.len() == 4 { 2 } else { 6 };
    b.extend(a);
    b.extend(port.to_be_bytes());
    b.extend(vec![0u8; pad]);
    b
}

pub fn svc_key(addr: &str, port: u16, slot: u16, proto: u8, scope: u8) -> Vec<u8> {
    let mut b = ipb(addr);
    b.extend(port.to_be_bytes());
    b.extend(slot.to_le_bytes());
    b.extend([proto, scope, 0, 0]);
    b
}

pub fn svc_val(union: u32, count: u16, rev_nat: u16, flags: u8, flags2: u8) -> Vec<u8> {
    let mut b = union.to_le_bytes().to_vec();
    b.extend(count.to_le_bytes());
    b.extend(rev_nat.to_be_bytes());
    b.extend([flags, flags2, 0, 0]);
    b
}

pub fn backend_val(addr: &str, port: u16, proto: u8) -> Vec<u8> {
    let mut b = ipb(addr);
    b.extend(port.to_be_bytes());
    b.extend([proto, 0, 0, 0, 0, 0]);
    b
}

pub fn revnat_val(addr: &str, port: u16) -> Vec<u8> {
    let mut b = ipb(addr);
    b.extend(port.to_be_bytes());
    b
}

pub fn ipcache_key(addr: &str, prefix: u32) -> Vec<u8> {
    let a = ip(addr);
    let mut b = (32 + prefix).to_le_bytes().to_vec();
    b.extend([0, 0, 0, if a.is_ipv4() { 1 } else { 2 }]);
    let mut ab = ipb(addr);
    ab.resize(16, 0);
    b.extend(ab);
    b
}

/// 12-byte (≤1.17) or 24-byte (1.18) ipcache value with an IPv4 tunnel endpoint.
pub fn ipcache_val(v18: bool, id: u32, tunnel: Option<&str>) -> Vec<u8> {
    let mut b = id.to_le_bytes().to_vec();
    let t = tunnel.map(ipb).unwrap_or(vec![0; 4]);
    if v18 {
        let mut t16 = t.clone();
        t16.resize(16, 0);
        b.extend(t16);
        b.extend([0, 0, 0, if tunnel.is_some() { 2 } else { 0 }]);
    } else {
        b.extend(t);
        b.extend([0, 0, 0, 0]);
    }
    b
}

pub fn lxc_key(addr: &str) -> Vec<u8> {
    let mut b = ipb(addr);
    let fam = if b.len() == 4 { 1 } else { 2 };
    b.resize(16, 0);
    b.extend([fam, 0, 0, 0]);
    b
}

pub fn lxc_val(
    ifindex: u32,
    id: u16,
    flags: u32,
    mac: [u8; 6],
    sec_id: u32,
    parent: u32,
) -> Vec<u8> {
    let mut b = ifindex.to_le_bytes().to_vec();
    b.extend([0, 0]);
    b.extend(id.to_le_bytes());
    b.extend(flags.to_le_bytes());
    b.extend([0u8; 4]);
    b.extend(mac);
    b.extend([0, 0]);
    b.extend([0x02, 0, 0, 0, 0, 0x01, 0, 0]);
    b.extend(sec_id.to_le_bytes());
    b.extend(parent.to_le_bytes());
    b.extend([0u8; 8]);
    b
}

/// Policy key with P = prefix bits past the identity (0 any proto, 8 proto, 8+n port bits).
pub fn pol_key(p: u32, id: u32, egress: bool, proto: u8, port: u16) -> Vec<u8> {
    let mut b = (40 + p).to_le_bytes().to_vec();
    b.extend(id.to_le_bytes());
    b.extend([egress as u8, proto]);
    b.extend(port.to_be_bytes());
    b
}

/// Policy value: `flags` already encoded for the layout under test; `len` 24 or 8.
pub fn pol_val(
    len: usize,
    proxy: u16,
    flags: u8,
    auth: u8,
    prio: u8,
    packets: u64,
    bytes: u64,
) -> Vec<u8> {
    let mut b = proxy.to_be_bytes().to_vec();
    b.extend([flags, auth, prio, 0, 0, 0]);
    if len == 24 {
        b.extend(packets.to_le_bytes());
        b.extend(bytes.to_le_bytes());
    }
    b
}

pub fn metrics_key(reason: u8, dir: u8, line: u16, file: u8) -> Vec<u8> {
    let mut b = vec![reason, dir];
    b.extend(line.to_le_bytes());
    b.extend([file, 0, 0, 0]);
    b
}

pub fn counters(packets: u64, bytes: u64) -> Vec<u8> {
    let mut b = packets.to_le_bytes().to_vec();
    b.extend(bytes.to_le_bytes());
    b
}

/// `BPF_OBJ_GET` on a pinned map (read-write: fixtures only).
pub fn obj_get(path: &std::path::Path) -> OwnedFd {
    bpf_sys::obj::obj_get(path, 0)
        .unwrap_or_else(|e| panic!("BPF_OBJ_GET {}: {e:?}", path.display()))
}

/// Loads a `sched_cls` program from raw instructions and pins it at `pin`.
pub fn load_tc_prog(insns: &[u64], pin: &std::path::Path) -> OwnedFd {
    // SAFETY: `struct bpf_insn` is 8 bytes (code, regs, off, imm) laid out as `insn()` encodes them in a
    // little-endian u64.
    let insns: Vec<bpf_insn> = insns
        .iter()
        .map(|&i| unsafe { std::mem::transmute::<u64, bpf_insn>(i) })
        .collect();
    let load = bpf_sys::prog::ProgLoad::new(
        bpf_prog_type::BPF_PROG_TYPE_SCHED_CLS,
        "policy_drop",
        &insns,
    );
    let fd = bpf_sys::prog::prog_load(&load).unwrap_or_else(|e| match e {
        bpf_sys::Error::ProgLoad { errno, log, .. } => panic!("BPF_PROG_LOAD: {errno}\n{log}"),
        e => panic!("BPF_PROG_LOAD: {e:?}"),
    });
    bpf_sys::obj::obj_pin(fd.as_fd(), pin)
        .unwrap_or_else(|e| panic!("BPF_OBJ_PIN {}: {e:?}", pin.display()));
    fd
}

/// One eBPF instruction.
pub fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    code as u64
        | ((dst as u64 | (src as u64) << 4) << 8)
        | ((off as u16 as u64) << 16)
        | ((imm as u32 as u64) << 32)
}

/// `ld_imm64 dst, map_fd` (two instructions).
pub fn ld_map_fd(dst: u8, fd: i32) -> [u64; 2] {
    [insn(0x18, dst, 1, 0, fd), 0]
}

/// `BPF_MAP_UPDATE_ELEM` on any map fd (to prove the tool's descriptors refuse writes).
pub fn try_update(fd: i32, key: &[u8], value: &[u8]) -> std::io::Result<()> {
    // SAFETY: the caller's descriptor outlives this call; the map gets its own duplicate of it.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned()?;
    let map = Map::from_fd(fd).map_err(std::io::Error::other)?;
    map.update(key, value, 0).map_err(|e| match e.errno() {
        Some(errno) => errno.into(),
        None => std::io::Error::other(e),
    })
}
