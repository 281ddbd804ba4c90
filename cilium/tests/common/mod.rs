//! Test-only fixture writer: a private bpffs with maps created exactly as the Cilium agent creates them (type, key
//! and value sizes, flags), filled with a small cluster. Nothing here is reachable from the tool.

#![allow(dead_code)]

pub mod cluster;
pub mod drop_prog;

use std::ffi::CString;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

pub const HASH: u32 = 1;
pub const PERF_EVENT_ARRAY: u32 = 4;
pub const PERCPU_HASH: u32 = 5;
pub const LRU_HASH: u32 = 9;
pub const LRU_PERCPU_HASH: u32 = 10;
pub const LPM_TRIE: u32 = 11;
pub const BPF_F_NO_PREALLOC: u32 = 1;
pub const BPF_F_NO_COMMON_LRU: u32 = 2;

fn sys_bpf(cmd: libc::c_long, attr: &mut [u64]) -> std::io::Result<i64> {
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(attr) as u32,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A bpf filesystem mounted on a fresh temp dir; unmounted and removed on drop (also when a test panics).
pub struct Bpffs {
    pub root: PathBuf,
}

impl Bpffs {
    pub fn new(tag: &str) -> Bpffs {
        testkit::need_root("BPF maps, mounting bpffs");
        let root = std::env::temp_dir().join(format!("pwru-cilium-{tag}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&root);
        let src = CString::new("bpf").unwrap();
        let dst = CString::new(root.as_os_str().as_encoded_bytes()).unwrap();
        let r = unsafe {
            libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                src.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        assert_eq!(
            r,
            0,
            "mount -t bpf {}: {}",
            root.display(),
            std::io::Error::last_os_error()
        );
        let fs = Bpffs { root };
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
        ty: u32,
        key: u32,
        value: u32,
        max: u32,
        flags: u32,
    ) -> TestMap {
        let mut attr = [0u64; 8];
        attr[0] = ty as u64 | (key as u64) << 32;
        attr[1] = value as u64 | (max as u64) << 32;
        attr[2] = flags as u64;
        let kname: Vec<u8> = name.bytes().take(15).collect();
        let mut nb = [0u8; 16];
        nb[..kname.len()].copy_from_slice(&kname);
        // map_name starts at byte 28 of the attr.
        let bytes: &mut [u8] =
            unsafe { std::slice::from_raw_parts_mut(attr.as_mut_ptr() as *mut u8, 64) };
        bytes[28..44].copy_from_slice(&nb);
        let fd = sys_bpf(0, &mut attr).unwrap_or_else(|e| panic!("BPF_MAP_CREATE {name}: {e}"));
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let path = self.globals().join(name);
        let cpath = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        let mut attr = [0u64; 3];
        attr[0] = cpath.as_ptr() as u64;
        attr[1] = fd.as_raw_fd() as u64;
        sys_bpf(6, &mut attr).unwrap_or_else(|e| panic!("BPF_OBJ_PIN {}: {e}", path.display()));
        TestMap {
            fd,
            value,
            per_cpu: matches!(ty, PERCPU_HASH | LRU_PERCPU_HASH),
        }
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let dst = CString::new(self.root.as_os_str().as_encoded_bytes()).unwrap();
        unsafe { libc::umount2(dst.as_ptr(), libc::MNT_DETACH) };
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub struct TestMap {
    pub fd: OwnedFd,
    value: u32,
    per_cpu: bool,
}

pub fn ncpus() -> usize {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap();
    s.trim()
        .split(',')
        .map(|p| p.rsplit('-').next().unwrap().parse::<usize>().unwrap())
        .max()
        .unwrap()
        + 1
}

impl TestMap {
    pub fn put(&self, key: &[u8], value: &[u8]) {
        assert_eq!(value.len(), self.value as usize, "fixture value size");
        let buf = if self.per_cpu {
            // Spread counts over CPUs: CPU 0 gets the value, CPU 1 the same again (so sums are 2x).
            let stride = value.len().div_ceil(8) * 8;
            let mut b = vec![0u8; stride * ncpus()];
            for c in 0..ncpus().min(2) {
                b[c * stride..c * stride + value.len()].copy_from_slice(value);
            }
            b
        } else {
            value.to_vec()
        };
        let mut attr = [0u64; 4];
        attr[0] = self.fd.as_raw_fd() as u64;
        attr[1] = key.as_ptr() as u64;
        attr[2] = buf.as_ptr() as u64;
        sys_bpf(2, &mut attr).unwrap_or_else(|e| panic!("BPF_MAP_UPDATE_ELEM: {e}"));
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
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let mut attr = [0u64; 3];
    attr[0] = c.as_ptr() as u64;
    let fd =
        sys_bpf(7, &mut attr).unwrap_or_else(|e| panic!("BPF_OBJ_GET {}: {e}", path.display()));
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// Loads a `sched_cls` program from raw instructions and pins it at `pin`.
pub fn load_tc_prog(insns: &[u64], pin: &std::path::Path) -> OwnedFd {
    let license = CString::new("GPL").unwrap();
    let mut log = vec![0u8; 65536];
    let mut attr = [0u64; 16];
    attr[0] = 3 | (insns.len() as u64) << 32; // BPF_PROG_TYPE_SCHED_CLS
    attr[1] = insns.as_ptr() as u64;
    attr[2] = license.as_ptr() as u64;
    attr[3] = 1 | (log.len() as u64) << 32; // log_level 1
    attr[4] = log.as_mut_ptr() as u64;
    let fd = match sys_bpf(5, &mut attr) {
        Ok(fd) => fd,
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            panic!(
                "BPF_PROG_LOAD: {e}\n{}",
                String::from_utf8_lossy(&log[..end])
            );
        }
    };
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let c = CString::new(pin.as_os_str().as_encoded_bytes()).unwrap();
    let mut attr = [0u64; 3];
    attr[0] = c.as_ptr() as u64;
    attr[1] = fd.as_raw_fd() as u64;
    sys_bpf(6, &mut attr).unwrap_or_else(|e| panic!("BPF_OBJ_PIN {}: {e}", pin.display()));
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

/// `BPF_MAP_UPDATE_ELEM` on any fd (to prove the tool's descriptors refuse writes).
pub fn try_update(fd: i32, key: &[u8], value: &[u8]) -> std::io::Result<()> {
    let mut attr = [0u64; 4];
    attr[0] = fd as u64;
    attr[1] = key.as_ptr() as u64;
    attr[2] = value.as_ptr() as u64;
    sys_bpf(2, &mut attr).map(|_| ())
}
