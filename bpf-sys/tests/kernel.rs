//! Every wrapper against the running kernel (root): maps, pins, ids, infos, program loads, test runs, links.
use bpf_sys::map::{Map, MapSpec};
use bpf_sys::obj::{self, Kind};
use bpf_sys::prog::{self, ProgLoad, TestRun, insn};
use bpf_sys::uapi::{
    BPF_F_RDONLY, BPF_NOEXIST, bpf_insn, bpf_map_type, bpf_prog_type, bpf_stats_type,
};
use bpf_sys::{Errno, Error, link};
use std::os::fd::AsFd;

/// `r0 = ret; exit`
fn returns(ret: i32) -> [bpf_insn; 2] {
    [insn(0xb7, 0, 0, 0, ret), insn(0x95, 0, 0, 0, 0)]
}

#[test]
#[ignore = "needs root: bpf() on the running kernel (tests/run.sh runs it)"]
fn hash_map_roundtrip() {
    let map = Map::create(&MapSpec::new(
        bpf_map_type::BPF_MAP_TYPE_HASH,
        "bpfsys_hash_test",
        4,
        8,
        16,
    ))
    .expect("BPF_MAP_CREATE");
    let info = map.info().clone();
    assert_eq!(
        (info.key_size, info.value_size, info.max_entries),
        (4, 8, 16)
    );
    assert_eq!(info.name, "bpfsys_hash_tes", "names are cut to 15 bytes");
    assert_eq!(map.value_len(), 8);
    assert!(obj::ids(Kind::Map).unwrap().contains(&info.id));
    assert_eq!(Map::from_id(info.id).unwrap().info(), &info);

    for k in 1u32..=3 {
        map.update(&k.to_ne_bytes(), &(k as u64 * 10).to_ne_bytes(), 0)
            .unwrap();
    }
    assert_eq!(
        map.get(&2u32.to_ne_bytes()).unwrap(),
        Some(20u64.to_ne_bytes().to_vec())
    );
    assert_eq!(map.get(&9u32.to_ne_bytes()).unwrap(), None);
    let e = map
        .update(&2u32.to_ne_bytes(), &0u64.to_ne_bytes(), BPF_NOEXIST as u64)
        .unwrap_err();
    assert_eq!(e.errno(), Some(Errno(libc::EEXIST)), "{e}");

    let mut keys = Vec::new();
    let mut cur = None;
    while let Some(k) = map.next_key_vec(cur.as_deref()).unwrap() {
        keys.push(u32::from_ne_bytes(k[..4].try_into().unwrap()));
        cur = Some(k);
    }
    keys.sort();
    assert_eq!(keys, [1, 2, 3]);

    assert!(map.delete(&2u32.to_ne_bytes()).unwrap());
    assert!(!map.delete(&2u32.to_ne_bytes()).unwrap());

    // Sizes are checked before the kernel can read or write past a buffer.
    let e = map.get(&[0u8; 2]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Size {
                what: "key",
                got: 2,
                want: 4
            }
        ),
        "{e}"
    );
    let e = map.update(&1u32.to_ne_bytes(), &[0u8; 4], 0).unwrap_err();
    assert!(matches!(e, Error::Size { what: "value", .. }), "{e}");
}

#[test]
#[ignore = "needs root: bpf() on the running kernel (tests/run.sh runs it)"]
fn per_cpu_values_have_one_slot_per_cpu() {
    let map = Map::create(&MapSpec::new(
        bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY,
        "bpfsys_pcpu",
        4,
        4,
        1,
    ))
    .unwrap();
    let cpus = bpf_sys::map::possible_cpus().unwrap();
    assert_eq!(map.value_len(), 8 * cpus, "4-byte values take 8-byte slots");
    let mut v = vec![0u8; map.value_len()];
    for c in 0..cpus {
        v[c * 8..c * 8 + 4].copy_from_slice(&(c as u32 + 100).to_ne_bytes());
    }
    map.update(&0u32.to_ne_bytes(), &v, 0).unwrap();
    let got = map.get(&0u32.to_ne_bytes()).unwrap().unwrap();
    let per_cpu: Vec<u32> = map
        .per_cpu(&got)
        .iter()
        .map(|s| u32::from_ne_bytes((*s).try_into().unwrap()))
        .collect();
    assert_eq!(
        per_cpu,
        (0..cpus as u32).map(|c| c + 100).collect::<Vec<_>>()
    );
}

#[test]
#[ignore = "needs root: bpf() on the running kernel (tests/run.sh runs it)"]
fn pin_and_open_by_path() {
    let fs = testkit::Mount::new("bpf", "bpfsys-test");
    let map = Map::create(&MapSpec::new(
        bpf_map_type::BPF_MAP_TYPE_ARRAY,
        "bpfsys_pin",
        4,
        4,
        2,
    ))
    .unwrap();
    let path = fs.join("map");
    map.pin(&path).unwrap();
    let ro = Map::open_pinned(&path, BPF_F_RDONLY).unwrap();
    assert_eq!(ro.info().id, map.info().id);
    let e = ro
        .update(&0u32.to_ne_bytes(), &1u32.to_ne_bytes(), 0)
        .unwrap_err();
    assert!(e.is_permission(), "a read-only fd cannot update: {e}");

    let p = prog::prog_load(&ProgLoad::new(
        bpf_prog_type::BPF_PROG_TYPE_SOCKET_FILTER,
        "bpfsys_pin",
        &returns(0),
    ))
    .unwrap();
    let ppath = fs.join("prog");
    obj::obj_pin(p.as_fd(), &ppath).unwrap();
    let e = Map::open_pinned(&ppath, 0).unwrap_err();
    assert!(
        matches!(&e, Error::WrongKind { want: "map", got } if got == "anon_inode:bpf-prog"),
        "{e}"
    );
    let e = obj::obj_get(&fs.join("absent"), 0).unwrap_err();
    assert_eq!(e.errno(), Some(Errno(libc::ENOENT)));
    assert_eq!(e.to_string(), "BPF_OBJ_GET failed");
    assert!(matches!(
        obj::obj_get(std::path::Path::new("a\0b"), 0),
        Err(Error::Nul(_))
    ));
}

#[test]
#[ignore = "needs root: bpf() on the running kernel (tests/run.sh runs it)"]
fn program_load_info_and_test_run() {
    let p = prog::prog_load(&ProgLoad::new(
        bpf_prog_type::BPF_PROG_TYPE_SOCKET_FILTER,
        "bpfsys_ret42",
        &returns(42),
    ))
    .expect("BPF_PROG_LOAD");
    let info = obj::prog_info(p.as_fd()).unwrap();
    assert_eq!(obj::name_of(&info.name), "bpfsys_ret42");
    assert_eq!(
        info.type_,
        bpf_prog_type::BPF_PROG_TYPE_SOCKET_FILTER as u32
    );
    assert!(obj::ids(Kind::Prog).unwrap().contains(&info.id));
    let again = obj::fd_by_id(Kind::Prog, info.id).unwrap();
    assert_eq!(obj::prog_info(again.as_fd()).unwrap().id, info.id);

    let _stats = prog::enable_stats(bpf_stats_type::BPF_STATS_RUN_TIME).expect("BPF_ENABLE_STATS");
    let frame = [0u8; 64];
    let mut out = [0u8; 64];
    let r = prog::prog_test_run(
        p.as_fd(),
        &mut TestRun {
            data_in: &frame,
            data_out: Some(&mut out),
            repeat: 10,
            ..Default::default()
        },
    )
    .expect("BPF_PROG_TEST_RUN");
    assert_eq!(r.retval, 42);
    assert_eq!(r.data_size_out, 64);

    let e = obj::fd_by_id(Kind::Prog, u32::MAX).unwrap_err();
    assert_eq!(e.errno(), Some(Errno(libc::ENOENT)), "{e}");
}

#[test]
#[ignore = "needs root: bpf() on the running kernel (tests/run.sh runs it)"]
fn refused_program_carries_the_verifier_log() {
    // exit without setting r0
    let bad = [insn(0x95, 0, 0, 0, 0)];
    let e = prog::prog_load(&ProgLoad::new(
        bpf_prog_type::BPF_PROG_TYPE_SOCKET_FILTER,
        "bpfsys_bad",
        &bad,
    ))
    .unwrap_err();
    match &e {
        Error::ProgLoad { name, errno, log } => {
            assert_eq!(name, "bpfsys_bad");
            assert_eq!(errno.raw(), libc::EACCES);
            assert!(log.contains("R0 !read_ok"), "log: {log}");
        }
        other => panic!("expected ProgLoad, got {other:?}"),
    }
    assert_eq!(e.to_string(), "loading BPF program bpfsys_bad failed");
    assert_eq!(
        std::error::Error::source(&e).map(|s| s.to_string()),
        Some(std::io::Error::from_raw_os_error(libc::EACCES).to_string())
    );
}

#[test]
#[ignore = "needs root: bpf() on the running kernel (tests/run.sh runs it)"]
fn raw_tracepoint_link_and_its_info() {
    let p = prog::prog_load(&ProgLoad::new(
        bpf_prog_type::BPF_PROG_TYPE_RAW_TRACEPOINT,
        "bpfsys_rawtp",
        &returns(0),
    ))
    .unwrap();
    let l = link::raw_tracepoint_open(Some(c"netif_receive_skb"), p.as_fd()).expect("raw tp link");
    let li = obj::link_info(l.as_fd()).unwrap();
    assert_eq!(li.prog_id, obj::prog_info(p.as_fd()).unwrap().id);
    assert!(obj::ids(Kind::Link).unwrap().contains(&li.id));
    // A program fd is no link.
    let e = obj::link_info(p.as_fd()).err().unwrap();
    assert!(matches!(e, Error::WrongKind { want: "link", .. }), "{e}");
    drop(l);
    assert!(
        !obj::ids(Kind::Link).unwrap().contains(&li.id),
        "closing the fd detaches"
    );

    let e = link::raw_tracepoint_open(Some(c"no_such_tracepoint_xyz"), p.as_fd()).unwrap_err();
    assert_eq!(e.errno(), Some(Errno(libc::ENOENT)), "{e}");
}

#[test]
#[ignore = "needs root: bpf() on the running kernel (tests/run.sh runs it)"]
fn kprobe_multi_cookies_must_match_the_symbols() {
    let p = prog::prog_load(&ProgLoad::new(
        bpf_prog_type::BPF_PROG_TYPE_SOCKET_FILTER,
        "bpfsys_km",
        &returns(0),
    ))
    .unwrap();
    let syms = [c"a".to_owned(), c"b".to_owned()];
    let e = link::link_kprobe_multi(p.as_fd(), &syms, Some(&[1]), false).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Size {
                what: "cookies",
                got: 1,
                want: 2
            }
        ),
        "{e}"
    );
}

#[test]
fn nofile_limit_is_raised() {
    let soft = bpf_sys::rlimit::raise_nofile_limit();
    // SAFETY: getrlimit on a local struct.
    let mut r: libc::rlimit = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
    assert_eq!(r.rlim_cur as u64, soft);
    assert_eq!(
        r.rlim_cur, r.rlim_max,
        "the soft limit is as high as allowed"
    );
}
