//! The compiled functions in the host kernel (root): spliced as a BPF-to-BPF subprogram behind a small wrapper,
//! loaded through the verifier as raw_tp, kprobe and tp_btf programs, and run with BPF_PROG_TEST_RUN (raw_tp) on a
//! real kernel object whose contents we know from user space: the calling thread's `struct task_struct`
//! (`bpf_get_current_task`), whose pid, comm, parent, network namespace and loopback device are checked.
//! Fetchers write into an array map value, read back with BPF_MAP_LOOKUP_ELEM.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use btf_expr::{Compiler, Value};
use pcap_filter::insn::*;
use symbols::Btf;

const BPF_MAP_CREATE: i32 = 0;
const BPF_MAP_LOOKUP_ELEM: i32 = 1;
const BPF_PROG_LOAD: i32 = 5;
const BPF_PROG_TEST_RUN: i32 = 10;

const PROG_KPROBE: u32 = 2;
const PROG_RAW_TRACEPOINT: u32 = 17;
const PROG_TRACING: u32 = 26;
const ATTACH_TRACE_RAW_TP: u32 = 23;
const MAP_ARRAY: u32 = 2;

const HELPER_MAP_LOOKUP: i32 = 1;
const HELPER_GET_CURRENT_TASK: i32 = 35;
const PSEUDO_CALL: u8 = 1;
const PSEUDO_MAP_FD: u8 = 1;

/// A `union bpf_attr`, filled field by field at the kernel's offsets.
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Self {
        Attr([0; 128])
    }
    fn u32(mut self, off: usize, v: u32) -> Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(mut self, off: usize, v: u64) -> Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().unwrap())
    }
    fn call(&mut self, cmd: i32) -> std::io::Result<i64> {
        let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, self.0.as_mut_ptr(), self.0.len()) };
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }
}

fn map_create(value_size: u32) -> OwnedFd {
    let fd = Attr::new()
        .u32(0, MAP_ARRAY)
        .u32(4, 4)
        .u32(8, value_size)
        .u32(12, 1)
        .call(BPF_MAP_CREATE)
        .expect("BPF_MAP_CREATE");
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

fn map_value(map: &OwnedFd, size: usize) -> Vec<u8> {
    let key = 0u32;
    let mut value = vec![0u8; size];
    Attr::new()
        .u32(0, map.as_raw_fd() as u32)
        .u64(8, &key as *const u32 as u64)
        .u64(16, value.as_mut_ptr() as u64)
        .call(BPF_MAP_LOOKUP_ELEM)
        .expect("BPF_MAP_LOOKUP_ELEM");
    value
}

/// Loads a program; on a verifier refusal, panics with the tail of the log.
fn load(prog_type: u32, attach: Option<(u32, u32)>, insns: &[Insn]) -> OwnedFd {
    let bytes: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
    let license = c"GPL";
    let mut log = vec![0u8; 1 << 20];
    let (attach_type, btf_id) = attach.unwrap_or((0, 0));
    let mut attr = Attr::new()
        .u32(0, prog_type)
        .u32(4, insns.len() as u32)
        .u64(8, bytes.as_ptr() as u64)
        .u64(16, license.as_ptr() as u64)
        .u32(24, 1)
        .u32(28, log.len() as u32)
        .u64(32, log.as_mut_ptr() as u64)
        .u32(68, attach_type)
        .u32(108, btf_id);
    match attr.call(BPF_PROG_LOAD) {
        Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd as i32) },
        Err(e) => {
            let text = String::from_utf8_lossy(&log);
            let text = text.trim_end_matches('\0');
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            panic!(
                "the verifier refused the program ({e}):\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

/// BPF_PROG_TEST_RUN of a raw_tp program with `args` as its context; returns r0.
fn test_run(prog: &OwnedFd, args: &[u64]) -> u32 {
    let mut attr = Attr::new()
        .u32(0, prog.as_raw_fd() as u32)
        .u32(40, (args.len() * 8) as u32)
        .u64(48, args.as_ptr() as u64);
    attr.call(BPF_PROG_TEST_RUN).expect("BPF_PROG_TEST_RUN");
    attr.get_u32(4)
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
fn fetch_program(root: Root, map: &OwnedFd, sub: &[Insn]) -> Vec<Insn> {
    let mut p = vec![Insn::alu64_reg(MOV, 6, R1), Insn::st(BPF_W, R10, -4, 0)];
    let [lo, hi] = Insn::ld_imm64(R1, map.as_raw_fd() as u64);
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
    assert!(
        unsafe { libc::geteuid() } == 0,
        "this test loads BPF programs and must run as root"
    );
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
        let prog = load(
            PROG_RAW_TRACEPOINT,
            None,
            &filter_program(Root::CurrentTask, &f.insns),
        );
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
        PROG_RAW_TRACEPOINT,
        None,
        &fetch_program(Root::CurrentTask, &map, &f.insns),
    );
    assert_eq!(test_run(&prog, &[0]), 0);
    let got = f.decode(&map_value(&map, f.area_size as usize)).unwrap();
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
fn bad_roots_in_the_kernel() {
    let btf = host_btf();
    let skb = Compiler::new(&btf, "skb", "sk_buff").unwrap();
    let f = skb
        .filter("skb->len == 0 || skb->dev->ifindex == 0 || !(skb->mark == 0)")
        .unwrap();
    let prog = load(
        PROG_RAW_TRACEPOINT,
        None,
        &filter_program(Root::CtxArg0, &f.insns),
    );
    // NULL root: the two comparisons are false; `!(false)` is true.
    assert_eq!(test_run(&prog, &[0]), 1);
    let g = skb
        .filter("skb->len == 0 || skb->dev->ifindex == 0")
        .unwrap();
    let prog = load(
        PROG_RAW_TRACEPOINT,
        None,
        &filter_program(Root::CtxArg0, &g.insns),
    );
    assert_eq!(test_run(&prog, &[0]), 0);
    assert_eq!(test_run(&prog, &[0xffff_dead_0000_0000]), 0);

    let f = skb.fetch(&["skb->len", "skb->dev->name"]).unwrap();
    let map = map_create(f.area_size);
    let prog = load(
        PROG_RAW_TRACEPOINT,
        None,
        &fetch_program(Root::CtxArg0, &map, &f.insns),
    );
    test_run(&prog, &[0]);
    let got = f.decode(&map_value(&map, f.area_size as usize)).unwrap();
    assert_eq!(got, vec![Value::Null, Value::Null]);
    test_run(&prog, &[0xffff_dead_0000_0000]);
    let got = f.decode(&map_value(&map, f.area_size as usize)).unwrap();
    assert_eq!(got, vec![Value::Unreadable, Value::Unreadable]);
}

/// The expressions over the host's `struct sk_buff` and `struct xdp_buff`, through the verifier as the
/// program types that will call them: kprobe (root a scalar from pt_regs), raw_tp, and tp_btf on
/// `kfree_skb` (root a BTF-typed `struct sk_buff *`).
#[test]
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
        load(
            PROG_KPROBE,
            None,
            &filter_program(Root::KprobeArg0, &f.insns),
        );
        load(
            PROG_RAW_TRACEPOINT,
            None,
            &filter_program(Root::CtxArg0, &f.insns),
        );
        load(
            PROG_TRACING,
            Some((ATTACH_TRACE_RAW_TP, trace_id)),
            &filter_program(Root::CtxArg0, &f.insns),
        );
        loaded += 3;
    }
    let x = xdp
        .filter("xdp->rxq->dev->ifindex == 9 && xdp->frame_sz > 0")
        .unwrap();
    load(
        PROG_KPROBE,
        None,
        &filter_program(Root::KprobeArg0, &x.insns),
    );
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
        PROG_KPROBE,
        None,
        &fetch_program(Root::KprobeArg0, &map, &fetch.insns),
    );
    load(
        PROG_TRACING,
        Some((ATTACH_TRACE_RAW_TP, trace_id)),
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
