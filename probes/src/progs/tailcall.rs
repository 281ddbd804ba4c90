//! Does fentry fire on a program entered by a tail call? Asked of the running kernel with programs of our own: an
//! entry program that tail-calls a callee (through a one-slot prog_array), an fentry program on the callee that
//! counts its runs, and one BPF_PROG_TEST_RUN of the entry. (On x86-64 and arm64 the JIT jumps into a tail-called
//! program past the instruction its trampoline patches, so fentry/fexit do not see it: measured on 6.1 and 6.12.)
use super::TailCalls;
use bpf_sys::map::{Map, MapSpec};
use bpf_sys::prog::{self, AttachObj, ProgBtf, ProgLoad, TestRun, insn};
use bpf_sys::uapi::{bpf_attach_type, bpf_func_info, bpf_insn, bpf_map_type, bpf_prog_type};
use std::os::fd::{AsFd, AsRawFd};

/// Program names: recognisable, and skipped by the inventory should another tracer's test be running.
pub(crate) const NAME_PREFIX: &str = "pwru_tailtest";

const EXIT: u8 = 0x95;
const MOV64_IMM: u8 = 0xb7;
const LD_IMM64: u8 = 0x18;
const CALL: u8 = 0x85;
const PSEUDO_MAP_FD: u8 = 1;

fn ld_map_fd(reg: u8, fd: i32) -> [bpf_insn; 2] {
    [
        insn(LD_IMM64, reg, PSEUDO_MAP_FD, 0, fd),
        insn(0, 0, 0, 0, 0),
    ]
}

/// BTF of one function `int pwru_tailtest_callee(struct __sk_buff *skb)`: header, types, strings.
fn callee_btf() -> (Vec<u8>, u32) {
    let strings = b"\0int\0__sk_buff\0skb\0pwru_tailtest_callee\0";
    let (int, sk_buff, skb, name) = (1u32, 5u32, 15u32, 19u32);
    let info = |kind: u32, vlen: u32| (kind << 24) | vlen;
    let mut t: Vec<u32> = Vec::new();
    t.extend([int, info(1, 0), 4, (1 << 24) | 32]); // [1] INT int, signed 32 bits
    t.extend([sk_buff, info(7, 0), 0]); // [2] FWD struct __sk_buff
    t.extend([0, info(2, 0), 2]); // [3] PTR -> 2
    t.extend([0, info(13, 1), 1, skb, 3]); // [4] FUNC_PROTO int (skb: 3)
    t.extend([name, info(12, 1), 4]); // [5] FUNC global, type 4
    let types: Vec<u8> = t.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let mut b = Vec::new();
    b.extend(0xeb9fu16.to_ne_bytes());
    b.extend([1u8, 0]); // version, flags
    b.extend(24u32.to_ne_bytes()); // hdr_len
    b.extend(0u32.to_ne_bytes()); // type_off
    b.extend((types.len() as u32).to_ne_bytes());
    b.extend((types.len() as u32).to_ne_bytes()); // str_off
    b.extend((strings.len() as u32).to_ne_bytes());
    b.extend(types);
    b.extend(strings);
    (b, 5)
}

fn why(what: &str, e: bpf_sys::Error) -> String {
    format!("{what}: {}", crate::backend::reason(&e))
}

/// What the test found.
pub(crate) enum Found {
    Answer(TailCalls),
    /// The kernel refuses fentry programs on BPF programs (EPERM/EACCES): nothing can be traced.
    Refused(String),
}

/// Runs the test; [`TailCalls::Unknown`] says which step failed.
pub(crate) fn test() -> Found {
    match run() {
        Ok(true) => Found::Answer(TailCalls::Seen),
        Ok(false) => Found::Answer(TailCalls::NotSeen),
        Err(Step::Refused(e)) => Found::Refused(e),
        Err(Step::Failed(e)) => Found::Answer(TailCalls::Unknown(e)),
    }
}

enum Step {
    Refused(String),
    Failed(String),
}

impl From<String> for Step {
    fn from(s: String) -> Step {
        Step::Failed(s)
    }
}

fn run() -> Result<bool, Step> {
    let jmp = Map::create(&MapSpec::new(
        bpf_map_type::BPF_MAP_TYPE_PROG_ARRAY,
        "pwru_tailtest",
        4,
        4,
        1,
    ))
    .map_err(|e| why("prog_array", e))?;
    let hits = Map::create(&MapSpec::new(
        bpf_map_type::BPF_MAP_TYPE_ARRAY,
        "pwru_tailhits",
        4,
        8,
        1,
    ))
    .map_err(|e| why("counter map", e))?;

    let (btf, func) = callee_btf();
    let btf_fd = prog::btf_load(&btf).map_err(|e| why("callee BTF", e))?;
    let callee_insns = [insn(MOV64_IMM, 0, 0, 0, 2), insn(EXIT, 0, 0, 0, 0)];
    let records = [bpf_func_info {
        insn_off: 0,
        type_id: func,
    }];
    let mut spec = ProgLoad::new(
        bpf_prog_type::BPF_PROG_TYPE_SCHED_CLS,
        "pwru_tailtest_c",
        &callee_insns,
    );
    spec.btf = Some(ProgBtf {
        fd: btf_fd.as_fd(),
        func_info: &records,
    });
    let callee = prog::prog_load(&spec).map_err(|e| why("callee", e))?;

    // r2 = &jmp; r3 = 0; tail_call(ctx, &jmp, 0); r0 = 1 (the tail call did not happen); exit
    let mut entry_insns = ld_map_fd(2, jmp.as_fd().as_raw_fd()).to_vec();
    entry_insns.extend([
        insn(MOV64_IMM, 3, 0, 0, 0),
        insn(CALL, 0, 0, 0, 12),
        insn(MOV64_IMM, 0, 0, 0, 1),
        insn(EXIT, 0, 0, 0, 0),
    ]);
    let spec = ProgLoad::new(
        bpf_prog_type::BPF_PROG_TYPE_SCHED_CLS,
        "pwru_tailtest_e",
        &entry_insns,
    );
    let entry = prog::prog_load(&spec).map_err(|e| why("entry", e))?;
    jmp.update(
        &0u32.to_ne_bytes(),
        &(callee.as_raw_fd() as u32).to_ne_bytes(),
        0,
    )
    .map_err(|e| why("prog_array update", e))?;

    // *(u32 *)(fp - 4) = 0; r0 = lookup(&hits, fp - 4); if r0 { lock *(u64 *)r0 += 1 }; r0 = 0; exit
    let mut count = vec![
        insn(0x62, 10, 0, -4, 0),
        insn(0xbf, 2, 10, 0, 0),
        insn(0x07, 2, 0, 0, -4),
    ];
    count.extend(ld_map_fd(1, hits.as_fd().as_raw_fd()));
    count.extend([
        insn(CALL, 0, 0, 0, 1),
        insn(0x15, 0, 0, 2, 0),
        insn(MOV64_IMM, 1, 0, 0, 1),
        insn(0xdb, 0, 1, 0, 0), // BPF_STX | BPF_ATOMIC | BPF_DW, BPF_ADD
        insn(MOV64_IMM, 0, 0, 0, 0),
        insn(EXIT, 0, 0, 0, 0),
    ]);
    let mut spec = ProgLoad::new(
        bpf_prog_type::BPF_PROG_TYPE_TRACING,
        "pwru_tailtest_f",
        &count,
    );
    spec.expected_attach_type = Some(bpf_attach_type::BPF_TRACE_FENTRY);
    spec.attach_btf_id = func;
    spec.attach_obj = AttachObj::Prog(callee.as_fd());
    let fentry = prog::prog_load(&spec).map_err(|e| {
        if e.is_permission() {
            Step::Refused("loading an fentry program on a BPF program: permission denied".into())
        } else {
            Step::Failed(why("fentry on the callee", e))
        }
    })?;
    let _link = bpf_sys::link::raw_tracepoint_open(None, fentry.as_fd())
        .map_err(|e| why("fentry link", e))?;

    let frame = [0u8; 64];
    let out = prog::prog_test_run(
        entry.as_fd(),
        &mut TestRun {
            data_in: &frame,
            ..TestRun::default()
        },
    )
    .map_err(|e| why("test run", e))?;
    if out.retval != 2 {
        return Err(format!("the tail call did not happen (returned {})", out.retval).into());
    }
    let n = hits
        .get(&0u32.to_ne_bytes())
        .map_err(|e| why("counter", e))?
        .and_then(|v| {
            v.get(..8)
                .map(|b| u64::from_ne_bytes(b.try_into().unwrap_or_default()))
        })
        .unwrap_or(0);
    Ok(n > 0)
}
