//! The compiled functions in the host kernel (root): spliced as a BPF-to-BPF subprogram behind a small wrapper,
//! loaded through the verifier as raw_tp, kprobe and tp_btf programs, and run with BPF_PROG_TEST_RUN (raw_tp) on a
//! real kernel object whose contents we know from user space: the calling thread's `struct task_struct`
//! (`bpf_get_current_task`), whose pid, comm, parent, network namespace and loopback device are checked.
//! Fetchers write into an array map value, read back with BPF_MAP_LOOKUP_ELEM.

use bpf_sys::map::{Map, MapSpec};
use bpf_sys::prog::{ProgLoad, TestRun, prog_load, prog_test_run};
use bpf_sys::uapi::{bpf_attach_type, bpf_insn, bpf_map_type, bpf_prog_type};
use btf_expr::{Compiler, Value};
use pcap_filter::insn::*;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use symbols::Btf;

const HELPER_MAP_LOOKUP: i32 = 1;
const HELPER_GET_CURRENT_TASK: i32 = 35;
const PSEUDO_CALL: u8 = 1;
const PSEUDO_MAP_FD: u8 = 1;

fn bpf(insns: &[Insn]) -> Vec<bpf_insn> {
    insns
        .iter()
        .map(|i| bpf_insn {
            code: i.code,
            _bitfield_align_1: [],
            _bitfield_1: bpf_insn::new_bitfield_1(i.dst, i.src),
            off: i.off,
            imm: i.imm,
        })
        .collect()
}

/// Loads a program of `kind` (raw_tp, kprobe, or tp_btf on `kfree_skb` given its typedef's id); a verifier
/// refusal fails the test with the log's tail.
fn load(kind: Kind, insns: &[Insn]) -> OwnedFd {
    let insns = bpf(insns);
    let mut p = ProgLoad::new(
        bpf_prog_type::BPF_PROG_TYPE_RAW_TRACEPOINT,
        "btf_expr_test",
        &insns,
    );
    match kind {
        Kind::RawTp => {}
        Kind::Kprobe => p.prog_type = bpf_prog_type::BPF_PROG_TYPE_KPROBE,
        Kind::TpBtf(id) => {
            p.prog_type = bpf_prog_type::BPF_PROG_TYPE_TRACING;
            p.expected_attach_type = Some(bpf_attach_type::BPF_TRACE_RAW_TP);
            p.attach_btf_id = id;
        }
    }
    prog_load(&p).unwrap_or_else(|e| {
        let text = e.to_string();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        panic!(
            "the verifier refused the program:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    })
}

#[derive(Clone, Copy)]
enum Kind {
    RawTp,
    Kprobe,
    TpBtf(u32),
}

/// BPF_PROG_TEST_RUN of a raw_tp program with `args` as its context; returns r0.
fn test_run(prog: &OwnedFd, args: &[u64]) -> u32 {
    let ctx: Vec<u8> = args.iter().flat_map(|a| a.to_ne_bytes()).collect();
    let mut run = TestRun {
        ctx_in: &ctx,
        ..TestRun::default()
    };
    prog_test_run(prog.as_fd(), &mut run)
        .expect("BPF_PROG_TEST_RUN")
        .retval
}

fn map_create(value_size: u32) -> Map {
    Map::create(&MapSpec::new(
        bpf_map_type::BPF_MAP_TYPE_ARRAY,
        "btf_expr_out",
        4,
        value_size,
        1,
    ))
    .expect("BPF_MAP_CREATE")
}

fn map_value(map: &Map) -> Vec<u8> {
    map.get(&0u32.to_ne_bytes())
        .expect("BPF_MAP_LOOKUP_ELEM")
        .expect("entry 0")
}

/// Where the root pointer comes from.
#[derive(Clone, Copy)]
enum Root {
    /// `bpf_get_current_task()`.
    CurrentTask,
    /// The first u64 of the context (raw_tp and tp_btf argument 0).
    CtxArg0,
    /// pt_regs' first-argument register (kprobe).
    KprobeArg0,
}

fn root_insns(root: Root) -> Vec<Insn> {
    match root {
        Root::CurrentTask => vec![
            Insn::call(HELPER_GET_CURRENT_TASK),
            Insn::alu64_reg(MOV, R1, R0),
        ],
        Root::CtxArg0 => vec![Insn::ldx(BPF_DW, R1, R1, 0)],
        // x86-64 struct pt_regs: di is at offset 112.
        Root::KprobeArg0 => vec![Insn::ldx(BPF_DW, R1, R1, 112)],
    }
}

/// `main: r1 = root; r0 = sub(r1); exit` followed by `sub` (the compiled filter).
fn filter_program(root: Root, sub: &[Insn]) -> Vec<Insn> {
    let mut p = root_insns(root);
    let call_at = p.len();
    p.push(Insn::new(BPF_JMP | CALL, 0, PSEUDO_CALL, 0, 0));
    p.push(Insn::exit());
    p[call_at].imm = (p.len() - call_at - 1) as i32;
    p.extend_from_slice(sub);
    p
}

/// `main: out = map[0]; r1 = root; sub(r1, out); r0 = 0` followed by `sub` (the compiled fetcher).
fn fetch_program(root: Root, map: &Map, sub: &[Insn]) -> Vec<Insn> {
    let mut p = vec![Insn::alu64_reg(MOV, 6, R1), Insn::st(BPF_W, R10, -4, 0)];
    let [lo, hi] = Insn::ld_imm64(R1, map.as_fd().as_raw_fd() as u64);
    p.push(Insn {
        src: PSEUDO_MAP_FD,
        ..lo
    });
    p.push(hi);
    p.extend([
        Insn::alu64_reg(MOV, R2, R10),
        Insn::alu64_imm(ADD, R2, -4),
        Insn::call(HELPER_MAP_LOOKUP),
    ]);
    let null_check = p.len();
    p.push(Insn::jmp_imm(JEQ, R0, 0, 0));
    p.push(Insn::alu64_reg(MOV, 7, R0));
    p.push(Insn::alu64_reg(MOV, R1, 6));
    p.extend(root_insns(root));
    p.push(Insn::alu64_reg(MOV, R2, 7));
    let call_at = p.len();
    p.push(Insn::new(BPF_JMP | CALL, 0, PSEUDO_CALL, 0, 0));
    p.push(Insn::alu64_imm(MOV, R0, 0));
    p.push(Insn::exit());
    p[null_check].off = (p.len() - 2 - null_check - 1) as i16;
    p[call_at].imm = (p.len() - call_at - 1) as i32;
    p.extend_from_slice(sub);
    p
}

fn host_btf() -> Btf {
    testkit::need_root("loads BPF programs");
    Btf::load(None, &symbols::ModuleSel::None).expect("the host's /sys/kernel/btf/vmlinux")
}

fn set_thread_name(name: &str) {
    let c = std::ffi::CString::new(name).unwrap();
    unsafe { libc::prctl(libc::PR_SET_NAME, c.as_ptr()) };
}

fn netns_inode() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
}

#[test]
#[ignore = "needs root and the running kernel"]
fn task_filters_in_the_kernel() {
    let btf = host_btf();
    let task = Compiler::new(&btf, "task", "task_struct").unwrap();
    set_thread_name("btfexpr-k1");
    let tid = unsafe { libc::gettid() } as i64;
    let pid = std::process::id() as i64;
    let ppid = unsafe { libc::getppid() } as i64;
    let ns = netns_inode();
    let cases: Vec<(String, bool)> = vec![
        (format!("task->pid == {tid}"), true),
        (format!("task->pid == {}", tid + 1), false),
        (format!("task->tgid == {pid} && task->pid == {tid}"), true),
        (format!("task->real_parent->tgid == {ppid}"), true),
        ("task->comm == \"btfexpr-k1\"".into(), true),
        ("task->comm == \"btfexpr-k\"".into(), false),
        ("task->comm != \"btfexpr-k1x\"".into(), true),
        (
            "task->nsproxy->net_ns->loopback_dev->name == \"lo\"".into(),
            true,
        ),
        (
            "task->nsproxy->net_ns->loopback_dev->ifindex == 1".into(),
            true,
        ),
        (format!("task->nsproxy->net_ns->ns.inum == {ns}"), true),
        (
            "task->nsproxy->uts_ns->name.sysname == \"Linux\"".into(),
            true,
        ),
        // lo has no rtnl_link_ops: the NULL makes the comparison false, and its negation true.
        (
            "task->nsproxy->net_ns->loopback_dev->rtnl_link_ops->kind == \"lo\"".into(),
            false,
        ),
        (
            "!(task->nsproxy->net_ns->loopback_dev->rtnl_link_ops->kind == \"lo\")".into(),
            true,
        ),
        (
            "task->mm && !task->in_execve && task->prio >= 0".into(),
            true,
        ),
        (format!("(task->pid & 0xff) == {}", tid & 0xff), true),
        (format!("task->pid > {tid} || task->pid < {tid}"), false),
    ];
    for (expr, want) in &cases {
        let f = task.filter(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let prog = load(Kind::RawTp, &filter_program(Root::CurrentTask, &f.insns));
        assert_eq!(
            test_run(&prog, &[0]),
            *want as u32,
            "{expr}\n{}",
            f.disassemble()
        );
    }
    eprintln!(
        "{} task filters matched in the kernel as expected",
        cases.len()
    );
}

#[test]
#[ignore = "needs root and the running kernel"]
fn task_fetch_in_the_kernel() {
    let btf = host_btf();
    let task = Compiler::new(&btf, "task", "task_struct").unwrap();
    set_thread_name("btfexpr-k2");
    let tid = unsafe { libc::gettid() } as u64;
    let exprs = [
        "task->pid",
        "task->comm",
        "task->nsproxy->net_ns->loopback_dev->name",
        "task->nsproxy->net_ns->ns.inum",
        "task->nsproxy->net_ns->loopback_dev->rtnl_link_ops->kind",
        "task->pid == 1",
        "task->real_parent",
        "task->in_execve",
    ];
    let f = task.fetch(&exprs).unwrap();
    let map = map_create(f.area_size);
    let prog = load(
        Kind::RawTp,
        &fetch_program(Root::CurrentTask, &map, &f.insns),
    );
    assert_eq!(test_run(&prog, &[0]), 0);
    let got = f.decode(&map_value(&map)).unwrap();
    let text = |s: &str| Value::Str {
        bytes: s.as_bytes().to_vec(),
        cut: false,
    };
    assert_eq!(got[0], Value::Signed(tid as i64));
    assert_eq!(got[1], text("btfexpr-k2"));
    assert_eq!(got[2], text("lo"));
    assert_eq!(got[3], Value::Unsigned(netns_inode()));
    assert_eq!(got[4], Value::Null);
    assert_eq!(got[5], Value::Bool(false));
    assert!(
        matches!(got[6], Value::Pointer(p) if p >> 48 == 0xffff),
        "{:?}",
        got[6]
    );
    assert_eq!(got[7], Value::Unsigned(0));
    let shown: Vec<String> = exprs
        .iter()
        .zip(&got)
        .map(|(e, v)| format!("{e}={v}"))
        .collect();
    eprintln!("{}", shown.join(" "));
}

/// A NULL root and an unmapped one: comparisons are false, fetched values `<null>` / `<unreadable>`.
#[test]
#[ignore = "needs root and the running kernel"]
fn bad_roots_in_the_kernel() {
    let btf = host_btf();
    let skb = Compiler::new(&btf, "skb", "sk_buff").unwrap();
    let f = skb
        .filter("skb->len == 0 || skb->dev->ifindex == 0 || !(skb->mark == 0)")
        .unwrap();
    let prog = load(Kind::RawTp, &filter_program(Root::CtxArg0, &f.insns));
    // NULL root: the two comparisons are false; `!(false)` is true.
    assert_eq!(test_run(&prog, &[0]), 1);
    let g = skb
        .filter("skb->len == 0 || skb->dev->ifindex == 0")
        .unwrap();
    let prog = load(Kind::RawTp, &filter_program(Root::CtxArg0, &g.insns));
    assert_eq!(test_run(&prog, &[0]), 0);
    assert_eq!(test_run(&prog, &[0xffff_dead_0000_0000]), 0);

    let f = skb.fetch(&["skb->len", "skb->dev->name"]).unwrap();
    let map = map_create(f.area_size);
    let prog = load(Kind::RawTp, &fetch_program(Root::CtxArg0, &map, &f.insns));
    test_run(&prog, &[0]);
    let got = f.decode(&map_value(&map)).unwrap();
    assert_eq!(got, vec![Value::Null, Value::Null]);
    test_run(&prog, &[0xffff_dead_0000_0000]);
    let got = f.decode(&map_value(&map)).unwrap();
    assert_eq!(got, vec![Value::Unreadable, Value::Unreadable]);
}

/// The expressions over the host's `struct sk_buff` and `struct xdp_buff`, through the verifier as the
/// program types that will call them: kprobe (root a scalar from pt_regs), raw_tp, and tp_btf on
/// `kfree_skb` (root a BTF-typed `struct sk_buff *`).
#[test]
#[ignore = "needs root and the running kernel"]
fn skb_expressions_pass_the_verifier() {
    let btf = host_btf();
    let skb = Compiler::new(&btf, "skb", "sk_buff").unwrap();
    let xdp = Compiler::new(&btf, "xdp", "xdp_buff").unwrap();
    let trace_id = btf
        .types_named("btf_trace_kfree_skb")
        .first()
        .copied()
        .expect("btf_trace_kfree_skb in the host BTF")
        .raw();
    let filters = [
        "skb->dev->ifindex == 9",
        "skb->len > 1000",
        "skb->pkt_type == 0",
        "skb->dev->name == \"eth0\"",
        "skb->sk->__sk_common.skc_family == 10",
        "skb->cb[2] != 0",
        "skb->protocol == 0x86dd && (skb->mark & 0xff) == 0x2a",
        "skb->dev->nd_net.net->ns.inum == 4026531833 || !skb->sk",
        "skb->hash > skb->len && skb->dev->rtnl_link_ops->kind == \"veth\"",
        "skb->sk->__sk_common.skc_prot->name == \"TCP\"",
    ];
    let mut loaded = 0;
    for e in filters {
        let f = skb.filter(e).unwrap_or_else(|err| panic!("{e}: {err}"));
        load(Kind::Kprobe, &filter_program(Root::KprobeArg0, &f.insns));
        load(Kind::RawTp, &filter_program(Root::CtxArg0, &f.insns));
        load(
            Kind::TpBtf(trace_id),
            &filter_program(Root::CtxArg0, &f.insns),
        );
        loaded += 3;
    }
    let x = xdp
        .filter("xdp->rxq->dev->ifindex == 9 && xdp->frame_sz > 0")
        .unwrap();
    load(Kind::Kprobe, &filter_program(Root::KprobeArg0, &x.insns));
    let fetch = skb
        .fetch(&[
            "skb->hash",
            "skb->mark",
            "skb->dev->name",
            "skb->dev->ifindex",
            "skb->len",
            "skb->pkt_type",
            "skb->protocol",
            "skb->dev->rtnl_link_ops->kind",
            "skb->sk->__sk_common.skc_family",
        ])
        .unwrap();
    let map = map_create(fetch.area_size);
    load(
        Kind::Kprobe,
        &fetch_program(Root::KprobeArg0, &map, &fetch.insns),
    );
    load(
        Kind::TpBtf(trace_id),
        &fetch_program(Root::CtxArg0, &map, &fetch.insns),
    );
    eprintln!(
        "{} filter loads and 2 fetcher loads ({} insns, {} stack bytes, {}-byte area) accepted",
        loaded + 1,
        fetch.insns.len(),
        fetch.stack,
        fetch.area_size
    );
}
