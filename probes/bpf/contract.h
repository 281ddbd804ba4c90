/* SPDX-License-Identifier: GPL-2.0 */
/* Constants the BPF programs share with the loader, as C enums so that the objects' BTF carries their values.
 * Rust mirror: probes/src/contract.rs; probes/tests/layout.rs compares the two through the committed objects. */
#ifndef PWRU_CONTRACT_H
#define PWRU_CONTRACT_H

/* Slots of the per-CPU COUNTERS map. */
enum pwru_counter {
	CNT_PRODUCED = 0,   /* events that passed the filters */
	CNT_LOST = 1,       /* of those, events the ring buffer had no room for */
	CNT_TRACK_FULL = 2, /* skbs skb tracking could not remember (TRACKED full) */
	CNT_PROG_DEEP = 3,  /* traced-program runs nested deeper than PROG_DEPTH: their helper calls are not shown */
	CNT_PACKETS = 4,    /* in-kernel summary: packets (paths started) */
	CNT_SUMMED = 5,     /* in-kernel summary: of CNT_PRODUCED, events counted in SUM_FUNCS and not shipped */
	CNT_PATHS_FULL = 6, /* in-kernel summary: events whose packet SUM_PATHS could not hold */
	CNT_MAX = 7,
};

/* What a probed function is to a packet, one bit each, in SUM_ROLES by summary index (kprobe targets first, then
 * tracepoints at CFG_SUM_TP_BASE). Userspace computes them from event/src/fate.rs, the one home of those rules;
 * summarize() (handle.h) applies fate.rs's classify() and same_packet() to them. */
enum pwru_role {
	ROLE_DROP = 1 << 0,          /* a drop function: a drop unless its reason says consumed */
	ROLE_REASONED_FREE = 1 << 1, /* a free that is a drop when its reason is not consumed */
	ROLE_FREES = 1 << 2,         /* frees the skb: the next event at its address is another packet */
	ROLE_STARTS_RELEASE = 1 << 3,
	ROLE_RELEASE_STEP = 1 << 4,
	ROLE_STARTS_TX = 1 << 5,
	ROLE_STARTS_RX = 1 << 6,
	ROLE_HANDOFF = 1 << 7,
	ROLE_SOCKET = 1 << 8,
	ROLE_RECEIVE = 1 << 9,
	ROLE_LOCAL_OUT = 1 << 10,
};

/* The in-kernel summary's table of drop reasons that mean "consumed" (fate.rs): CFG_CONSUMED, one bit per code
 * below CONSUMED_CODES. The kernel's core reasons are far fewer; subsystem reasons (SKB_DROP_REASON_SUBSYS_*, in
 * the high bits) never say consumed. A consumed code past it turns the kernel's counting off (the loader). */
enum pwru_summary_abi {
	CONSUMED_CODES = 256,
};

/* Tracepoint programs are loaded once per tracepoint; the loader patches the immediate of the instruction
 * `rX = TP_ID_MARKER` with that tracepoint's index. TP_ID_UNTRACK in the patched value asks to forget the skb for
 * skb tracking after the event (set on skb:kfree_skb and skb:consume_skb, the tracepoint backend's stand-in for
 * kfree_skbmem). */
enum pwru_tp_id {
	TP_ID_MARKER = 0x7e7e7e7e,
	TP_ID_UNTRACK = 0x80000000u,
};

/* The BPF cookie of a target of the one-program-per-backend programs (kprobe_cookie, kprobe_multi_cookie,
 * raw_tp_cookie), written by the loader (probes/src/variant.rs, cookie()). Positions are arguments counted from 0;
 * a field holding "position + 1" is 0 when there is none. */
enum pwru_cookie {
	COOKIE_SKB_SHIFT = 0,     /* 8 bits: the skb's position */
	COOKIE_REASON_SHIFT = 8,  /* 8 bits: the drop reason's position + 1 */
	COOKIE_CALLER_SHIFT = 16, /* 8 bits: position + 1 of an argument reported as the caller (tracepoints) */
	COOKIE_UNTRACK = 1 << 24, /* forget the skb for skb tracking after the event (as TP_ID_UNTRACK) */
	COOKIE_ID_SHIFT = 32,     /* 32 bits: the target's index, the event's probe_id */
};

/* fentry/fexit programs on tc and XDP programs are loaded once per traced program; the loader patches the immediate
 * of `rX = PROG_ID_MARKER` with that program's id, which becomes the events' probe_id. */
enum pwru_prog_marker {
	PROG_ID_MARKER = 0x7d7d7d7d,
};

#endif
