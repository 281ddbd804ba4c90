//! A tc program in the role of Cilium's datapath dropping a packet: it counts the drop in a `cilium_metrics`-shaped
//! per-CPU map the way `update_metrics()` does, then returns TC_ACT_SHOT.

use super::{insn, ld_map_fd};
use std::path::Path;
use testkit::{NetnsPair, sh};

/// Remote pod 10.244.2.7 (identity 34567, in `a`) and the local server 10.244.1.6 (endpoint 2001, in `b`) joined
/// by a veth, with the program pinned at `prog_pin` on `b`'s ingress.
pub fn pods_with_drop_on_ingress(tag: &str, prog_pin: &Path) -> NetnsPair {
    let ns = NetnsPair::builder(tag, 0)
        .hosts("10.244.2.7", "10.244.1.6")
        .build();
    sh(&format!(
        "ip netns exec {b} tc qdisc add dev {vb} clsact && \
         ip netns exec {b} tc filter add dev {vb} ingress bpf direct-action object-pinned {}",
        prog_pin.display(),
        b = ns.b,
        vb = ns.veth_b
    ));
    ns
}

/// Reason 133, direction INGRESS, line 42, file 2 (bpf_lxc.c): `metrics_key` as a little-endian u64.
pub const KEY: u64 = 133 | 1 << 8 | 42 << 16 | 2 << 32;

/// if (skb->protocol != htons(ETH_P_IP)) return TC_ACT_OK;
/// v = lookup(metrics, KEY); if (v) { v->count++; v->bytes += skb->len; } else update(metrics, KEY, {1, len});
/// return TC_ACT_SHOT;
pub fn program(map_fd: i32) -> Vec<u64> {
    let mut p = vec![
        insn(0xbf, 6, 1, 0, 0),      // r6 = r1 (skb)
        insn(0x61, 2, 6, 16, 0),     // r2 = skb->protocol
        insn(0x15, 2, 0, 2, 0x0008), // if r2 == htons(0x0800) goto +2
        insn(0xb7, 0, 0, 0, 0),      // r0 = TC_ACT_OK
        insn(0x95, 0, 0, 0, 0),      // exit
        insn(0x18, 1, 0, 0, KEY as u32 as i32),
        insn(0, 0, 0, 0, (KEY >> 32) as i32), // r1 = KEY
        insn(0x7b, 10, 1, -8, 0),             // *(u64 *)(fp - 8) = r1
        insn(0xbf, 2, 10, 0, 0),              // r2 = fp
        insn(0x07, 2, 0, 0, -8),              // r2 -= 8
    ];
    p.extend(ld_map_fd(1, map_fd));
    p.extend([
        insn(0x85, 0, 0, 0, 1),    // call map_lookup_elem
        insn(0x15, 0, 0, 9, 0),    // if r0 == 0 goto insert (+9)
        insn(0x79, 1, 0, 0, 0),    // r1 = v->count
        insn(0x07, 1, 0, 0, 1),    // r1 += 1
        insn(0x7b, 0, 1, 0, 0),    // v->count = r1
        insn(0x61, 1, 6, 0, 0),    // r1 = skb->len
        insn(0x79, 2, 0, 8, 0),    // r2 = v->bytes
        insn(0x0f, 2, 1, 0, 0),    // r2 += r1
        insn(0x7b, 0, 2, 8, 0),    // v->bytes = r2
        insn(0xb7, 0, 0, 0, 2),    // r0 = TC_ACT_SHOT
        insn(0x95, 0, 0, 0, 0),    // exit
        insn(0x7a, 10, 0, -24, 1), // insert: *(u64 *)(fp - 24) = 1
        insn(0x61, 1, 6, 0, 0),    // r1 = skb->len
        insn(0x7b, 10, 1, -16, 0), // *(u64 *)(fp - 16) = r1
        insn(0xbf, 2, 10, 0, 0),
        insn(0x07, 2, 0, 0, -8), // r2 = &key
        insn(0xbf, 3, 10, 0, 0),
        insn(0x07, 3, 0, 0, -24), // r3 = &value
        insn(0xb7, 4, 0, 0, 0),   // r4 = BPF_ANY
    ]);
    p.extend(ld_map_fd(1, map_fd));
    p.extend([
        insn(0x85, 0, 0, 0, 2), // call map_update_elem
        insn(0xb7, 0, 0, 0, 2), // r0 = TC_ACT_SHOT
        insn(0x95, 0, 0, 0, 0),
    ]);
    p
}
