//! The lines `--filter-trace-tc`/`--filter-trace-xdp` print: what was traced at start (or why nothing could be),
//! and each program picked up or let go while tracing.

use probes::progs::{Hook, ProgEvent, ProgsReport, Skipped, TailCalls};

fn programs(n: usize, hook: Hook) -> String {
    let what = match hook {
        Hook::Tc => "tc",
        Hook::Xdp => "XDP",
    };
    format!("{n} {what} program{}", if n == 1 { "" } else { "s" })
}

/// The lines after attaching. `flag` names what was asked (`--filter-trace-tc`).
pub fn startup(r: &ProgsReport, flag: &str, helpers: bool) -> Vec<String> {
    if let Some(why) = &r.refused {
        return vec![format!(
            "{flag}: this kernel does not let BPF programs be traced ({why}, as root); tracing kernel functions only"
        )];
    }
    let mut out = Vec::new();
    let skipped = |hook: Hook| r.skipped.iter().filter(|s| s.prog.hook == hook).count();
    let mut line = format!(
        "{flag}: tracing {} BPF program{} in {} ms",
        r.traced,
        if r.traced == 1 { "" } else { "s" },
        r.elapsed.as_millis()
    );
    let mut reasons: Vec<(&str, usize)> = Vec::new();
    for s in &r.skipped {
        match reasons.iter_mut().find(|(w, _)| *w == s.reason) {
            Some((_, n)) => *n += 1,
            None => reasons.push((&s.reason, 1)),
        }
    }
    if !r.skipped.is_empty() {
        let parts: Vec<String> = [Hook::Tc, Hook::Xdp]
            .into_iter()
            .filter(|&h| skipped(h) > 0)
            .map(|h| programs(skipped(h), h))
            .collect();
        let why: Vec<String> = reasons.iter().map(|(w, n)| format!("{n} {w}")).collect();
        line.push_str(&format!(
            "; {} skipped ({})",
            parts.join(" and "),
            why.join(", ")
        ));
    }
    out.push(line);
    if r.tail_targets > 0 {
        let n = r.tail_targets;
        let are = if n == 1 {
            "is a tail-call target"
        } else {
            "are tail-call targets"
        };
        out.push(match &r.tail_calls {
            TailCalls::Seen => {
                format!("{n} of them {are}: this kernel runs fentry on tail-called programs, they are traced too")
            }
            TailCalls::NotSeen => format!(
                "{n} of them {are}: this kernel does not run fentry on tail-called programs (tested), so a chain shows as its first program with the chain's verdict{}",
                if helpers {
                    "; their helper calls name the program that made them"
                } else {
                    "; --filter-track-bpf-helpers shows their helper calls"
                }
            ),
            TailCalls::Unknown(why) => format!(
                "{n} of them {are}: whether this kernel runs fentry on tail-called programs is unknown ({why})"
            ),
        });
    }
    if let Err(why) = &r.release {
        out.push(format!(
            "programs released while tracing cannot be noticed here ({why}): pwru holds them until it exits"
        ));
    }
    if helpers {
        if let Some(why) = &r.helpers_unavailable {
            out.push(format!(
                "--filter-track-bpf-helpers: {why}; helper calls are not shown"
            ));
        } else {
            out.push(helper_line(&r.helpers, &r.helpers_ignored, ""));
        }
    }
    out
}

fn helper_line(added: &[String], ignored: &[probes::Ignored], more: &str) -> String {
    let mut s = format!(
        "kprobes on {} {more}kernel function{} the traced programs call",
        added.len(),
        if added.len() == 1 { "" } else { "s" }
    );
    if !added.is_empty() && added.len() <= 8 {
        s.push_str(&format!(": {}", added.join(", ")));
    }
    if !ignored.is_empty() {
        let first = &ignored[0];
        s.push_str(&format!(
            " ({} refused, e.g. {}: {})",
            ignored.len(),
            first.name,
            first.reason
        ));
    }
    s
}

/// One line for a change while tracing.
pub fn change(ev: &ProgEvent) -> String {
    match ev {
        ProgEvent::Traced(p) => format!(
            "tracing {} program {} (id {}), loaded while tracing",
            p.hook.name(),
            p.name,
            p.id
        ),
        ProgEvent::Released(p) => format!(
            "{} program {} (id {}) was released by its owner: let go",
            p.hook.name(),
            p.name,
            p.id
        ),
        ProgEvent::Skipped(Skipped { prog, reason }) => format!(
            "{} program {} (id {}) loaded while tracing, not traced: {reason}",
            prog.hook.name(),
            prog.name,
            prog.id
        ),
        ProgEvent::Helpers { added, ignored } => helper_line(added, ignored, "more "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use probes::progs::Prog;
    use std::time::Duration;

    fn prog(id: u32, hook: Hook, name: &str) -> Prog {
        Prog {
            id,
            hook,
            name: name.into(),
            jited: vec![],
        }
    }

    fn report() -> ProgsReport {
        ProgsReport {
            traced: 3,
            skipped: vec![Skipped {
                prog: prog(9, Hook::Tc, "old"),
                reason: "no BTF".into(),
            }],
            refused: None,
            tail_calls: TailCalls::NotSeen,
            tail_targets: 1,
            helpers: vec!["htab_map_lookup_elem".into()],
            helpers_ignored: vec![],
            helpers_unavailable: None,
            release: Ok(()),
            elapsed: Duration::from_millis(42),
        }
    }

    #[test]
    fn startup_lines() {
        let l = startup(&report(), "--filter-trace-tc", false);
        assert_eq!(
            l[0],
            "--filter-trace-tc: tracing 3 BPF programs in 42 ms; 1 tc program skipped (1 no BTF)"
        );
        assert!(
            l[1].starts_with("1 of them is a tail-call target: this kernel does not run fentry"),
            "{}",
            l[1]
        );
        assert!(l[1].ends_with("--filter-track-bpf-helpers shows their helper calls"));
        assert_eq!(l.len(), 2);
        let l = startup(&report(), "--filter-trace-tc", true);
        assert_eq!(
            l[2],
            "kprobes on 1 kernel function the traced programs call: htab_map_lookup_elem"
        );
    }

    #[test]
    fn a_refusing_kernel_says_so_in_one_line() {
        let r = ProgsReport {
            refused: Some(
                "loading BPF program pwru_fexit on a BPF program: permission denied".into(),
            ),
            ..report()
        };
        assert_eq!(
            startup(&r, "--filter-trace-tc", true),
            [
                "--filter-trace-tc: this kernel does not let BPF programs be traced (loading BPF program pwru_fexit on a BPF program: permission denied, as root); tracing kernel functions only"
            ]
        );
    }

    #[test]
    fn changes() {
        assert_eq!(
            change(&ProgEvent::Traced(prog(
                812,
                Hook::Tc,
                "cil_from_container"
            ))),
            "tracing tc program cil_from_container (id 812), loaded while tracing"
        );
        assert_eq!(
            change(&ProgEvent::Released(prog(640, Hook::Xdp, "cil_xdp_entry"))),
            "xdp program cil_xdp_entry (id 640) was released by its owner: let go"
        );
    }
}
