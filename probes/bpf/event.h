/* SPDX-License-Identifier: GPL-2.0 */
/* The one definition of what the BPF side sends to userspace. Its Rust mirror is
 * probes/src/event.rs (RawEvent); probes/tests/layout.rs checks that the two agree
 * by reading this struct's BTF (and the enums' values) out of the compiled objects. Only fixed-width types. */
#ifndef PWRU_EVENT_H
#define PWRU_EVENT_H

/* event.flags */
enum pwru_event_flag {
	EV_HAS_TUPLE = 1 << 0,  /* saddr/daddr/ports/l4_proto are valid */
	EV_HAS_REASON = 1 << 1, /* drop_reason is valid */
	EV_HAS_CALLER = 1 << 2, /* caller_ip is valid */
	EV_HAS_STACK = 1 << 3,  /* stack_id is valid */
	EV_IPV6 = 1 << 4,       /* addresses are IPv6 (else IPv4 in the first 4 bytes) */
	EV_TRACKED = 1 << 5,    /* passed because skb tracking follows this skb */
};

/* event.kind */
enum pwru_event_kind {
	EV_KIND_KPROBE = 0,     /* func_ip = address of the probed function */
	EV_KIND_TRACEPOINT = 1, /* probe_id = index into the loader's tracepoint table */
};

struct event {
	__u64 ts_ns;       /* bpf_ktime_get_ns() */
	__u64 skb;         /* struct sk_buff address */
	__u64 func_ip;     /* probed function (kprobe kinds) */
	__u64 caller_ip;   /* return address, with --output-caller */
	__u32 probe_id;    /* tracepoint index (tracepoint kind) */
	__u32 pid;         /* tgid of the current task */
	__u32 cpu;
	__u32 netns;       /* inode of the skb's network namespace */
	__u32 mark;
	__u32 ifindex;
	__u32 len;         /* skb->len */
	__u32 mtu;
	__u32 drop_reason; /* enum skb_drop_reason, with EV_HAS_REASON */
	__s32 stack_id;    /* STACKS map id, with EV_HAS_STACK */
	__u16 protocol;    /* skb->protocol, network byte order as in the skb */
	__u16 sport;       /* host byte order */
	__u16 dport;       /* host byte order */
	__u8  pkt_type;
	__u8  l4_proto;    /* IPPROTO_* after IPv6 extension headers */
	__u8  tcp_flags;
	__u8  kind;        /* EV_KIND_* */
	__u8  flags;       /* EV_* */
	__u8  _pad;
	__u8  saddr[16];
	__u8  daddr[16];
	char  comm[16];
};

#endif
