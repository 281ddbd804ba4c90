//! A summary-only run counts in the kernel: the table that tells the probes what each target is to a packet,
//! computed from [`event::fate`]'s rules (no function name is known to the BPF side).

use event::FuncKind;
use event::fate::{self, Roles};
use probes::contract::role;

/// Whether the run needs no event but the summary's: `--summary` (or `--summary --metrics`) without a printer,
/// a pcapng or a line limit. Then the kernel counts and ships only drops.
pub fn wanted(output: &super::Output) -> bool {
    output.summary.is_some() && !output.events && output.pcap.is_none() && output.limit.is_none()
}

/// The role of each target, kprobes first (kprobe backends), then tracepoints by the names events carry.
pub fn table(
    backend: probes::Backend,
    kprobes: &[probes::Target],
    tracepoint_names: &[String],
    reasons: &symbols::DropReasons,
) -> probes::KernelSummary {
    let kprobes = kprobes
        .iter()
        .filter(|_| backend != probes::Backend::Tracepoint)
        .map(|t| bits(fate::roles(&t.name, FuncKind::Kprobe)));
    let tracepoints = tracepoint_names
        .iter()
        .map(|n| bits(fate::roles(n, FuncKind::Tracepoint)));
    probes::KernelSummary {
        roles: kprobes.chain(tracepoints).collect(),
        consumed_reasons: reasons
            .iter()
            .filter(|(_, name)| fate::is_consumed_reason(name))
            .map(|(code, _)| code)
            .collect(),
    }
}

/// The names of the targets in the order of [`table`]'s roles: the functions the kernel's counters are for.
pub fn names(cfg: &probes::Config, tracepoint_names: &[String]) -> Vec<String> {
    cfg.kprobes
        .iter()
        .filter(|_| cfg.backend != probes::Backend::Tracepoint)
        .map(|t| t.name.clone())
        .chain(tracepoint_names.iter().cloned())
        .collect()
}

fn bits(r: Roles) -> u32 {
    [
        (r.drop, role::DROP),
        (r.reasoned_free, role::REASONED_FREE),
        (r.frees, role::FREES),
        (r.starts_release, role::STARTS_RELEASE),
        (r.release_step, role::RELEASE_STEP),
        (r.starts_tx, role::STARTS_TX),
        (r.starts_rx, role::STARTS_RX),
        (r.handoff, role::HANDOFF),
        (r.socket, role::SOCKET),
        (r.receive, role::RECEIVE),
        (r.local_out, role::LOCAL_OUT),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .fold(0, |acc, (_, bit)| acc | bit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_by_backend_and_kind() {
        let t = |name: &str| probes::Target {
            name: name.into(),
            module: None,
            skb_arg: probes::ArgIndex(0),
            reason_arg: None,
            address: None,
        };
        let kp = [t("kfree_skbmem"), t("ip_rcv")];
        let tps = ["kfree_skb".to_string()];
        let r = symbols::DropReasons::default();
        let k = table(probes::Backend::KprobeMulti, &kp, &tps, &r);
        let tp_free = role::DROP | role::FREES | role::RELEASE_STEP;
        assert_eq!(k.roles, [role::FREES | role::RELEASE_STEP, 0, tp_free]);
        let k = table(probes::Backend::Tracepoint, &kp, &tps, &r);
        assert_eq!(k.roles, [tp_free]);
    }
}
