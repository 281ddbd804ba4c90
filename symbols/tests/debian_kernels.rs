//! Real BTF of other kernels: Debian's 6.1 and 6.12 cloud kernels for amd64 and arm64 (the ones the VM tests
//! boot), fetched by `tests/vm/kernels.sh` into `tests/.cache` (run here when missing). amd64: vmlinux is
//! unpacked from the bzImage and used as `--kernel-btf` (an ELF with `.BTF`); arm64: the `Image` itself is the
//! `--kernel-btf` (BTF embedded without section headers); module
//! `.ko` files are real split BTF on top of it. This host has no loadable modules, so this is where `--kmods`
//! meets real module BTF.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use symbols::{
    Btf, BtfOptions, DropReasons, ModuleSel, SkbFunc, SymbolsError, skb_functions_in_btf,
    skb_tracepoints_with,
};

struct Kernel {
    vmlinux: PathBuf,
    /// Holds one decompressed `.ko` per module, named after the module (like /sys/kernel/btf).
    module_dir: PathBuf,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// series ("6.1", "6.12") -> (release, vmlinuz, modules dir), from kernels.sh's list.
fn kernel_list(arch: &str) -> HashMap<String, (String, PathBuf, PathBuf)> {
    let root = workspace_root();
    let cache = std::env::var_os("VM_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("tests/.cache"));
    let list = cache.join(format!("kernels/{arch}.list"));
    let fresh = std::fs::read_to_string(&list)
        .map(|t| {
            t.lines()
                .all(|l| l.split(' ').nth(2).is_some_and(|v| Path::new(v).is_file()))
        })
        .unwrap_or(false);
    if !fresh {
        let st = Command::new("bash")
            .arg(root.join("tests/vm/kernels.sh"))
            .arg(arch)
            .status()
            .unwrap();
        assert!(
            st.success(),
            "tests/vm/kernels.sh {arch} failed: cannot get the Debian kernels"
        );
    }
    std::fs::read_to_string(&list)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (
                f[0].to_string(),
                (f[1].to_string(), PathBuf::from(f[2]), PathBuf::from(f[3])),
            )
        })
        .collect()
}

/// Unpacks vmlinux from a bzImage: try each compressed-stream magic in the file until one yields an ELF
/// (what the kernel's scripts/extract-vmlinux does). LZ4 (Debian 6.1) is decoded here; zstd, xz and gzip by
/// their command-line tools (installed by tests/setup.sh).
fn extract_vmlinux(vmlinuz: &Path, out: &Path) {
    let img = std::fs::read(vmlinuz).unwrap();
    let magics: [(&[u8], &[&str]); 4] = [
        (b"\x02\x21\x4c\x18", &[]),
        (b"\x28\xb5\x2f\xfd", &["zstd", "-dcq"]),
        (b"\xfd7zXZ\x00", &["xz", "-dcq"]),
        (b"\x1f\x8b\x08", &["gzip", "-dcq"]),
    ];
    for (magic, cmd) in magics {
        let starts = img
            .windows(magic.len())
            .enumerate()
            .filter(|(_, w)| w == &magic)
            .map(|(i, _)| i);
        for pos in starts.take(4) {
            let elf = if cmd.is_empty() {
                lz4_legacy(&img[pos + 4..])
            } else {
                run_filter(cmd, &img[pos..])
            };
            if elf.starts_with(b"\x7fELF") {
                std::fs::write(out, &elf).unwrap();
                return;
            }
        }
    }
    panic!("no vmlinux ELF found in {}", vmlinuz.display());
}

/// Pipes `input` through a decompressor; what it wrote counts, even if it exits non-zero on the bytes after
/// the stream.
fn run_filter(cmd: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (tests/setup.sh installs it)", cmd[0]));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    output.stdout
}

/// The kernel's LZ4 "legacy" frame (after its magic): blocks of `u32 LE size` + LZ4 block data, until the data
/// stops looking like a block (the kernel appends its own size field).
fn lz4_legacy(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let n = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
        if n == 0 || n > data.len() - 4 || n == 0x184c2102 {
            break;
        }
        if lz4_block(&data[4..4 + n], &mut out).is_none() {
            break;
        }
        data = &data[4 + n..];
    }
    out
}

/// One LZ4 block: sequences of literals and back-references.
fn lz4_block(src: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let start = out.len();
    let mut i = 0;
    let more = |i: &mut usize, mut len: usize| -> Option<usize> {
        loop {
            let b = *src.get(*i)?;
            *i += 1;
            len += b as usize;
            if b != 255 {
                return Some(len);
            }
        }
    };
    loop {
        let token = *src.get(i)?;
        i += 1;
        let mut lit = (token >> 4) as usize;
        if lit == 15 {
            lit = more(&mut i, lit)?;
        }
        out.extend_from_slice(src.get(i..i + lit)?);
        i += lit;
        if i == src.len() {
            return Some(());
        }
        let off = u16::from_le_bytes([*src.get(i)?, *src.get(i + 1)?]) as usize;
        i += 2;
        let mut len = (token & 15) as usize;
        if len == 15 {
            len = more(&mut i, len)?;
        }
        if off == 0 || off > out.len() - start {
            return None;
        }
        let from = out.len() - off;
        for k in 0..len + 4 {
            let b = out[from + k];
            out.push(b);
        }
    }
}

/// Decompresses a module (`.ko`, `.ko.xz`, `.ko.zst`) into `dir/<name>`.
fn unpack_module(moddir: &Path, rel: &str, dir: &Path, name: &str) {
    let base = moddir.join("kernel").join(rel);
    let out = dir.join(name);
    for (ext, cmd) in [("", None), (".xz", Some("xz")), (".zst", Some("zstd"))] {
        let p = PathBuf::from(format!("{}{ext}", base.display()));
        if !p.is_file() {
            continue;
        }
        match cmd {
            None => {
                std::fs::copy(&p, &out).unwrap();
            }
            Some(tool) => {
                let o = Command::new(tool).arg("-dc").arg(&p).output().unwrap();
                assert!(o.status.success(), "{tool} -dc {}", p.display());
                std::fs::write(&out, o.stdout).unwrap();
            }
        }
        return;
    }
    panic!("no module {} under {}", rel, moddir.display());
}

fn kernel(series: &str) -> &'static Kernel {
    kernel_of("amd64", series)
}

fn kernel_of(arch: &str, series: &str) -> &'static Kernel {
    static KERNELS: OnceLock<Mutex<HashMap<String, &'static Kernel>>> = OnceLock::new();
    let mut map = KERNELS
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let key = format!("{arch} {series}");
    if let Some(k) = map.get(&key) {
        return k;
    }
    let list = kernel_list(arch);
    let (release, vmlinuz, moddir) = list
        .get(series)
        .unwrap_or_else(|| panic!("no {series} kernel in the list"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("debian-{release}"));
    let module_dir = dir.join("btf");
    let vmlinux = dir.join("vmlinux");
    let done = dir.join(".done");
    if !done.is_file() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&module_dir).unwrap();
        if arch == "amd64" {
            extract_vmlinux(vmlinuz, &vmlinux);
        }
        unpack_module(moddir, "drivers/net/veth.ko", &module_dir, "veth");
        unpack_module(
            moddir,
            "net/openvswitch/openvswitch.ko",
            &module_dir,
            "openvswitch",
        );
        std::fs::write(&done, release).unwrap();
    }
    // arm64's Image is uncompressed and carries the BTF itself.
    let vmlinux = if arch == "amd64" {
        vmlinux
    } else {
        vmlinuz.clone()
    };
    let k: &'static Kernel = Box::leak(Box::new(Kernel {
        vmlinux,
        module_dir,
    }));
    map.insert(key, k);
    k
}

fn load(k: &Kernel, kmods: ModuleSel) -> Result<Btf, SymbolsError> {
    Btf::load_with(&BtfOptions {
        kernel_btf: Some(k.vmlinux.clone()),
        module_dir: k.module_dir.clone(),
        kmods,
    })
}

fn get<'a>(fs: &'a [SkbFunc], name: &str, module: Option<&str>) -> &'a SkbFunc {
    fs.iter()
        .find(|f| f.name == name && f.module.as_deref() == module)
        .unwrap_or_else(|| panic!("{name} ({module:?}) not found"))
}

#[test]
#[ignore = "needs Debian's kernel packages, fetched by tests/vm/kernels.sh (tests/run.sh runs it)"]
fn debian_6_1_vmlinux_and_veth() {
    let k = kernel("6.1");
    let btf = load(k, ModuleSel::Some(vec!["veth".into()])).unwrap();
    assert_eq!(btf.modules(), vec!["veth"]);
    let fs = skb_functions_in_btf(&btf, None);
    assert!(fs.iter().filter(|f| f.module.is_none()).count() > 1000);
    assert_eq!(get(&fs, "ip_rcv", None).skb_arg, 0);
    assert_eq!(get(&fs, "ip_rcv_finish", None).skb_arg, 2);
    let kfr = get(&fs, "kfree_skb_reason", None);
    assert_eq!((kfr.skb_arg, kfr.reason_arg), (0, Some(1)));
    assert!(
        fs.iter().all(|f| f.name != "sk_skb_reason_drop"),
        "sk_skb_reason_drop is 6.11+"
    );
    // Real split BTF: module types refer to vmlinux's struct sk_buff by id, names come from both string tables.
    let veth: Vec<&SkbFunc> = fs
        .iter()
        .filter(|f| f.module.as_deref() == Some("veth"))
        .collect();
    assert!(!veth.is_empty());
    assert_eq!(get(&fs, "veth_xmit", Some("veth")).skb_arg, 0);
    assert!(
        veth.iter()
            .all(|f| f.name.starts_with("veth_") || f.name.starts_with("__")),
        "{veth:?}"
    );

    let r = DropReasons::from_btf(&btf);
    assert_eq!(r.name(1), Some("NOT_SPECIFIED"));
    assert_eq!(
        r.name(2),
        Some("NO_SOCKET"),
        "6.1 has no SKB_CONSUMED: NO_SOCKET is 2"
    );
    assert_eq!(r.subsystem(1), None, "no drop-reason subsystems before 6.4");
    assert_eq!(r.describe(0x10005), "65541");

    let tps = skb_tracepoints_with(&btf, None);
    let kfree = tps.iter().find(|t| t.name == "kfree_skb").unwrap();
    assert_eq!(
        (kfree.skb_arg, kfree.reason_arg, kfree.nargs),
        (0, Some(2), 3),
        "kfree_skb(skb, location, reason)"
    );
}

#[test]
#[ignore = "needs Debian's kernel packages, fetched by tests/vm/kernels.sh (tests/run.sh runs it)"]
fn debian_6_12_vmlinux_openvswitch_and_all_kmods() {
    let k = kernel("6.12");
    let btf = load(k, ModuleSel::All).unwrap();
    assert_eq!(btf.modules(), vec!["openvswitch", "veth"]);
    let fs = skb_functions_in_btf(&btf, None);
    assert_eq!(get(&fs, "ip_rcv_finish", None).skb_arg, 2);
    let drop = get(&fs, "sk_skb_reason_drop", None);
    assert_eq!((drop.skb_arg, drop.reason_arg), (1, Some(2)));
    assert_eq!(get(&fs, "veth_xmit", Some("veth")).skb_arg, 0);
    assert_eq!(
        get(&fs, "ovs_vport_receive", Some("openvswitch")).skb_arg,
        1
    );
    assert_eq!(
        get(&fs, "ovs_dp_process_packet", Some("openvswitch")).skb_arg,
        0
    );
    // Both modules' ids start right after vmlinux's: each must resolve in its own table.
    assert!(
        fs.iter()
            .filter(|f| f.module.as_deref() == Some("openvswitch"))
            .count()
            > 30
    );

    let r = DropReasons::from_btf(&btf);
    assert_eq!(r.name(2), Some("NOT_SPECIFIED"));
    assert_eq!(r.name(3), Some("NO_SOCKET"));
    assert_eq!(r.subsys_mask(), 0xffff_0000);
    let ovs = (1..16)
        .find(|&i| r.subsystem(i) == Some("OPENVSWITCH"))
        .unwrap();
    assert_eq!(
        ovs, 3,
        "6.12: CORE, MAC80211_UNUSABLE, MAC80211_MONITOR, OPENVSWITCH"
    );
    assert_eq!(
        r.describe(ovs << 16 | 1),
        "OVS_DROP_LAST_ACTION",
        "named from openvswitch's enum ovs_drop_reason"
    );
    assert_eq!(r.describe(ovs << 16 | 0x7ff), "OPENVSWITCH:0x7ff");
    assert_eq!(
        r.describe(1 << 16 | 4),
        "MAC80211_UNUSABLE:0x4",
        "mac80211 is not loaded: subsystem only"
    );

    // Without the module, its reasons are subsystem + number only.
    let plain = load(k, ModuleSel::None).unwrap();
    assert_eq!(
        DropReasons::from_btf(&plain).describe(ovs << 16 | 1),
        "OPENVSWITCH:0x1"
    );

    let tps = skb_tracepoints_with(&btf, None);
    let kfree = tps.iter().find(|t| t.name == "kfree_skb").unwrap();
    assert_eq!(
        (kfree.skb_arg, kfree.reason_arg, kfree.nargs),
        (0, Some(2), 4),
        "kfree_skb(skb, location, reason, rx_sk)"
    );
    // openvswitch's own tracepoints (ovs_dp_upcall ...) come from module BTF.
    let upcall = tps
        .iter()
        .find(|t| t.name == "ovs_dp_upcall")
        .expect("module tracepoint ovs_dp_upcall");
    assert_eq!(
        (upcall.module.as_deref(), upcall.skb_arg),
        (Some("openvswitch"), 1)
    );
}

#[test]
#[ignore = "needs Debian's kernel packages, fetched by tests/vm/kernels.sh (tests/run.sh runs it)"]
fn debian_unknown_module_and_elf_errors() {
    let k = kernel("6.12");
    let err = load(k, ModuleSel::Some(vec!["veth".into(), "nope".into()])).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "unknown kernel module 'nope' (no {})",
            k.module_dir.join("nope").display()
        )
    );
    // A file that is neither BTF nor ELF is a one-line error.
    let not_btf = k.module_dir.parent().unwrap().join(".done");
    let bad = Btf::load(Some(&not_btf), &ModuleSel::None);
    assert!(
        bad.as_ref().unwrap_err().to_string().contains("bad magic"),
        "{:?}",
        bad.err()
    );
    assert!(bad.is_err());
}

#[test]
#[ignore = "needs Debian's kernel packages, fetched by tests/vm/kernels.sh (tests/run.sh runs it)"]
fn debian_arm64_images() {
    for series in ["6.1", "6.12"] {
        let k = kernel_of("arm64", series);
        let btf = load(k, ModuleSel::Some(vec!["veth".into()])).unwrap();
        let fs = skb_functions_in_btf(&btf, None);
        assert!(fs.len() > 1000, "{series}: {}", fs.len());
        assert_eq!(get(&fs, "ip_rcv", None).skb_arg, 0);
        assert_eq!(get(&fs, "ip_rcv_finish", None).skb_arg, 2);
        assert_eq!(get(&fs, "veth_xmit", Some("veth")).skb_arg, 0);
        let r = DropReasons::from_btf(&btf);
        if series == "6.1" {
            let f = get(&fs, "kfree_skb_reason", None);
            assert_eq!((f.skb_arg, f.reason_arg), (0, Some(1)));
            assert_eq!(r.name(2), Some("NO_SOCKET"));
        } else {
            let f = get(&fs, "sk_skb_reason_drop", None);
            assert_eq!((f.skb_arg, f.reason_arg), (1, Some(2)));
            assert_eq!(r.name(3), Some("NO_SOCKET"));
        }
        // Same release, other architecture: nearly the same skb functions (inlining differs a little).
        let amd: std::collections::HashSet<String> =
            skb_functions_in_btf(&load(kernel(series), ModuleSel::None).unwrap(), None)
                .into_iter()
                .map(|f| f.name)
                .collect();
        let arm: Vec<&SkbFunc> = fs.iter().filter(|f| f.module.is_none()).collect();
        let common = arm.iter().filter(|f| amd.contains(&f.name)).count();
        assert!(
            common * 10 >= arm.len() * 9,
            "{series}: only {common} of {} arm64 names on amd64",
            arm.len()
        );
    }
}

/// `--output-bpfmap`'s probe list and the hash element layout on the four kernels the VM tests boot: the hash,
/// LRU and LPM operations Cilium's maps use are there, with `struct htab_elem`'s key where the value lookup
/// expects it.
#[test]
#[ignore = "needs Debian's kernel packages, fetched by tests/vm/kernels.sh (tests/run.sh runs it)"]
fn debian_map_functions() {
    use symbols::{MapOp, htab_elem_key_offset, map_functions};
    for arch in ["amd64", "arm64"] {
        for series in ["6.1", "6.12"] {
            let btf = load(kernel_of(arch, series), ModuleSel::None).unwrap();
            let fs = map_functions(&btf, None);
            let op = |name: &str| {
                fs.iter()
                    .find(|f| f.name == name)
                    .unwrap_or_else(|| panic!("{arch} {series}: no {name} in {fs:?}"))
            };
            assert_eq!(op("__htab_map_lookup_elem").op, MapOp::Lookup);
            assert!(op("__htab_map_lookup_elem").returns_elem);
            assert!(!op("htab_lru_map_lookup_elem").returns_elem);
            assert_eq!(op("htab_map_update_elem").op, MapOp::Update);
            assert_eq!(op("htab_lru_map_update_elem").op, MapOp::Update);
            assert_eq!(op("htab_lru_map_delete_elem").op, MapOp::Delete);
            assert_eq!(op("trie_lookup_elem").op, MapOp::Lookup);
            assert_eq!(op("array_map_update_elem").op, MapOp::Update);
            assert!(
                fs.iter()
                    .all(|f| !f.name.contains("_sys_") && f.name != "map_lookup_elem"),
                "{arch} {series}: syscall-only functions listed: {fs:?}"
            );
            // hash_node/fnode (16), lru_node or ptr_to_pptr (24 on 64-bit), hash (4), key 8-aligned.
            assert_eq!(htab_elem_key_offset(&btf), Some(48), "{arch} {series}");
        }
    }
}
