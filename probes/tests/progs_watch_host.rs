//! The program side of `--filter-trace-tc/-xdp` that the host kernel lets run: the inventory (tc and XDP programs
//! by id, named by their BTF function name, not the kernel's 15-character one) and the watcher (a program loaded
//! while tracing is picked up; one its owner releases is let go and then freed). The host refuses fentry on BPF
//! programs, so the tracer holds each program (`probes::testing::hold_programs`: the two references its links
//! would take) instead of tracing it; everything else is the real path. Tracing itself is tested in the VMs.
//! Its own test binary: the hook is for the whole process.
mod common;

use common::*;
use probes::Tracer;
use probes::progs::{Hook, ProgEvent};
use std::path::Path;
use std::time::{Duration, Instant};
use testkit::{Mount, need_tool, sh, workspace_root};

fn obj(name: &str) -> String {
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x86"
    };
    workspace_root()
        .join(format!("testkit/bpf/obj/{name}-{arch}.o"))
        .display()
        .to_string()
}

/// `(id, the kernel's own name)` of a pinned program (bpftool would show the BTF name).
fn pinned(pin: &Path) -> (u32, String) {
    let s = sh(&format!("bpftool prog show pinned {}", pin.display()));
    let Some(id) = s.split(':').next().and_then(|n| n.trim().parse().ok()) else {
        panic!("bpftool prog show pinned {}: {s}", pin.display());
    };
    let fd = bpf_sys::obj::fd_by_id(bpf_sys::obj::Kind::Prog, id).expect("open the program");
    let info = bpf_sys::obj::prog_info(std::os::fd::AsFd::as_fd(&fd)).expect("its info");
    (id, bpf_sys::obj::name_of(&info.name))
}

fn exists(id: u32) -> bool {
    bpf_sys::obj::ids(bpf_sys::obj::Kind::Prog)
        .expect("list program ids")
        .contains(&id)
}

/// Program changes until `want` matches one (5 s at most).
fn wait_for(t: &Tracer, what: &str, want: impl Fn(&ProgEvent) -> bool) -> Vec<ProgEvent> {
    let t0 = Instant::now();
    let mut seen = Vec::new();
    while t0.elapsed() < Duration::from_secs(5) {
        seen.extend(t.prog_events());
        if seen.iter().any(&want) {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no {what} in 5 s; changes seen: {seen:?}");
}

#[test]
#[ignore = "needs root: BPF programs on the running kernel (tests/run.sh runs it)"]
fn inventory_by_btf_name_and_programs_that_come_and_go() {
    let _g = testkit::serial();
    need_tool("bpftool");
    probes::testing::hold_programs(true);
    let fs = Mount::new("bpf", "pwru-progs");
    let pins = fs.join("progs");
    sh(&format!(
        "bpftool prog loadall {} {}",
        obj("progs"),
        pins.display()
    ));
    let expected = [
        ("pwru_test_pass_egress", Hook::Tc),
        ("pwru_test_drop_udp_ingress", Hook::Tc),
        ("pwru_test_tail_entry", Hook::Tc),
        ("pwru_test_tail_callee", Hook::Tc),
        ("pwru_test_xdp_udp", Hook::Xdp),
    ];
    let ids: Vec<(u32, String)> = expected
        .iter()
        .map(|(n, _)| pinned(&pins.join(n)))
        .collect();

    let (t, _, r) = attach_progs(false);
    assert_eq!(r.refused, None, "{r:?}");
    assert_eq!(
        r.release,
        Ok(()),
        "releases are noticed (bpf_prog iterator)"
    );
    assert!(r.traced >= expected.len(), "{r:?}");
    let table = t.prog_table();
    for ((name, hook), (id, kernel_name)) in expected.iter().zip(&ids) {
        let p = table
            .get(*id)
            .unwrap_or_else(|| panic!("{name} (id {id}) not in the inventory"));
        assert_eq!((p.name.as_str(), p.hook), (*name, *hook));
        assert!(
            name.starts_with(kernel_name.as_str()) && kernel_name.len() < name.len(),
            "the kernel's name {kernel_name} is the cut one"
        );
        assert!(
            p.jited.iter().any(|&(a, l)| a != 0 && l > 0),
            "{name}: JITed ranges {:?}",
            p.jited
        );
        assert_eq!(table.containing(p.jited[0].0 + 1).map(|p| p.id), Some(*id));
    }
    assert!(
        t.prog_events().is_empty(),
        "nothing changed yet: the first pass is the report"
    );

    // A program loaded while tracing is picked up.
    let late_pin = fs.join("late");
    sh(&format!(
        "bpftool prog load {} {} type classifier",
        obj("late"),
        late_pin.display()
    ));
    let (late, _) = pinned(&late_pin);
    let seen = wait_for(
        &t,
        "pick-up of the late program",
        |e| matches!(e, ProgEvent::Traced(p) if p.id == late),
    );
    let p = table.get(late).expect("the late program in the table");
    assert_eq!((p.name.as_str(), p.hook), ("pwru_test_late_pass", Hook::Tc));
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, ProgEvent::Traced(p) if p.id != late)),
        "only the new program is new: {seen:?}"
    );

    // Its owner lets it go (the pin was its only reference): we let go too, and the kernel frees it.
    std::fs::remove_file(&late_pin).expect("unpin the late program");
    wait_for(
        &t,
        "release of the late program",
        |e| matches!(e, ProgEvent::Released(p) if p.id == late),
    );
    let t0 = Instant::now();
    while exists(late) && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !exists(late),
        "the released program is freed, not kept by us"
    );
    assert_eq!(
        table.get(late).map(|p| p.name),
        Some("pwru_test_late_pass".to_string()),
        "a released program keeps its name for its last events"
    );

    detach_and_check(t);
    // Programs that are not ours are untouched.
    for (id, _) in &ids {
        assert!(exists(*id), "program {id} still loaded after detach");
    }
    probes::testing::hold_programs(false);
}
