/* SPDX-License-Identifier: GPL-2.0 */
/* What every program shares: argument registers, the loader's configuration, the maps, counters and skb tracking.
 * Included once, by pwru.bpf.c, so that all programs of the object use the same maps. */
#ifndef PWRU_COMMON_H
#define PWRU_COMMON_H

/* pt_regs seen as an array of u64: the index of each argument register, of the stack pointer / link register
 * and of the return-value register. */
#if defined(__TARGET_ARCH_x86)
#define REG_ARG0 14 /* di */
#define REG_ARG1 13 /* si */
#define REG_ARG2 12 /* dx */
#define REG_ARG3 11 /* cx */
#define REG_ARG4 9  /* r8 */
#define REG_SP 19
#define REG_RET 10 /* ax */
#elif defined(__TARGET_ARCH_arm64)
#define REG_ARG0 0
#define REG_ARG1 1
#define REG_ARG2 2
#define REG_ARG3 3
#define REG_ARG4 4
#define REG_LR 30
#define REG_RET 0
#else
#error "define __TARGET_ARCH_x86 or __TARGET_ARCH_arm64"
#endif

#define REG(ctx, idx) (((volatile __u64 *)(ctx))[idx])
#define KARG(ctx, n) REG(ctx, REG_ARG##n) /* kprobe argument n, counted from 0 */
/* tracepoint (tp_btf and raw_tp) context: the tracepoint's arguments as u64s, counted from 0 */
#define TPARG(ctx, n) (((volatile __u64 *)(ctx))[n])

/* ---- configuration, written by the loader before load (EbpfLoader::set_global) ---- */
volatile const __u32 CFG_NETNS = 0;      /* netns inode to keep, 0 = any */
volatile const __u32 CFG_MARK_ON = 0;    /* 1 = keep only (mark & CFG_MARK_MASK) == CFG_MARK */
volatile const __u32 CFG_MARK = 0;
volatile const __u32 CFG_MARK_MASK = 0;
volatile const __u32 CFG_IFINDEX = 0;    /* ifindex to keep, 0 = any */
volatile const __u32 CFG_TRACK_SKB = 0;  /* 1 = follow skbs that matched once (skb tracking) */
volatile const __u32 CFG_TRACK_STACK = 0; /* 1 = follow packets by the task that processes them (stack.h) */
volatile const __u32 CFG_CALLER = 0;     /* 1 = record the caller's address (kprobes only) */
volatile const __u32 CFG_STACK = 0;      /* 1 = record a stack id */
volatile const __u32 CFG_SELF_TGID = 0;  /* the tracer's own pid: its netlink skbs are not packets */
volatile const __u32 HAVE_FILTER = 0;    /* 1 = a pcap filter is spliced into pcap_filter() */
volatile const __u32 FILTER_SNAPLEN = FILTER_BUF_SIZE;
volatile const __u32 FILTER_TEST_L3 = 0; /* filter_test: hand the stub the packet from its IP header */
volatile const __u32 HAVE_SKB_EXPR = 0;  /* 1 = a BTF expression is spliced into btf_filter() */
volatile const __u32 CFG_META_SIZE = 0;  /* bytes of btf_fetch()'s output area (SEC_BTF_VALUES), 0 = no fetcher */
volatile const __u32 HAVE_XDP_EXPR = 0;  /* 1 = a BTF expression is spliced into xdp_filter() */
volatile const __u32 CFG_XDP_META_SIZE = 0; /* bytes of xdp_fetch()'s output area (SEC_BTF_VALUES, SECF_XDP) */
volatile const __u32 CFG_DUMP_SKB = 0;   /* 1 = SEC_BTF_DUMP of the struct sk_buff */
volatile const __u32 CFG_DUMP_SHINFO = 0; /* 1 = SEC_BTF_DUMP of its struct skb_shared_info */
volatile const __u32 CFG_DUMP_SIZE = 0;  /* text buffer per dump, at most DUMP_BUF_MAX */
volatile const __u32 CFG_SKB_BTF_ID = 0; /* the running kernel's BTF ids of struct sk_buff ... */
volatile const __u32 CFG_SHINFO_BTF_ID = 0; /* ... and struct skb_shared_info */
volatile const __u32 CFG_SNAPLEN = 0;    /* packet bytes per event (SEC_PACKET), 0 = none */
volatile const __u32 CFG_SKB_CB = 0;     /* 1 = skb events carry __sk_buff->cb[] (SEC_SKB_CB) */
volatile const __u32 CFG_XDP_FOLLOW = 0; /* 1 = an skb built on a buffer an XDP program passed after a match goes on */
volatile const __u32 CFG_TUNNEL = 0;     /* 1 = a SEC_TUNNEL section on the events of tunnel packets */
volatile const __u32 HAVE_TUNNEL_L2 = 0; /* 1 = the joined stub has a --filter-tunnel-pcap-l2 filter */
volatile const __u32 HAVE_TUNNEL_L3 = 0; /* 1 = ... and a --filter-tunnel-pcap-l3 filter */
volatile const __u32 TUNNEL_SNAPLEN_L2 = FILTER_BUF_SIZE;
volatile const __u32 TUNNEL_SNAPLEN_L3 = FILTER_BUF_SIZE;
volatile const __u32 CFG_SUMMARY = 0;    /* 1 = summary-only run: count in the kernel, ship only first drops */
volatile const __u32 CFG_SUM_TP_BASE = 0; /* summary index of tracepoint 0 (after the kprobe targets) */
/* bit r (word r / 64, bit r % 64): drop reason r means "consumed" (fate.rs) */
volatile const __u64 CFG_CONSUMED[CONSUMED_CODES / 64] = {};

/* ---- maps ---- */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24); /* the loader sets the real size */
} EVENTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} COUNTERS SEC(".maps");

#define STACK_DEPTH 50
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 8192);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, STACK_DEPTH * sizeof(__u64));
} STACKS SEC(".maps");

struct filter_buf {
	__u8 data[FILTER_BUF_SIZE];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct filter_buf);
} FILTER_BUF SEC(".maps");

/* Function address by probe_id, for kprobes whose bpf_get_func_ip() is 0 (placed past the entry). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* the loader sets the real size */
	__type(key, __u32);
	__type(value, __u64);
} FUNC_IPS SEC(".maps");
/* Where an event with sections is built before bpf_ringbuf_output() copies its actual size into the ring (records
 * without sections are reserved in the ring and written in place). The sections follow in this order, each only
 * when present: verdict, skb cb, tunnel, map op, an XDP event's BTF values, packet (its length varies), an skb
 * event's BTF sections (handle.h). */
#define SECTIONS_FIXED_MAX                                                                                  \
	(5 * sizeof(struct section_head) + sizeof(struct section_verdict) + 8 /* skb_cb, padded */ +        \
	 sizeof(struct section_skb_cb) + sizeof(struct section_tunnel) + sizeof(struct section_map_op) +     \
	 sizeof(struct section_packet))
struct record_buf {
	struct event event;
	__u8 tail[SECTIONS_FIXED_MAX + SNAPLEN_MAX];
	/* room for the BTF sections (issue 11), each 8-byte aligned: the values (before the packet, which they move
	 * back by as much), then the two dumps (after it) */
	__u8 btf[sizeof(struct section_head) + BTF_AREA_MAX +
		 2 * (sizeof(struct section_head) + sizeof(struct section_dump) + DUMP_BUF_MAX)] __attribute__((aligned(8)));
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct record_buf);
} RECORD_BUF SEC(".maps");

/* Traced tc/XDP programs running on a CPU, innermost last: fentry pushes a frame, fexit pops it. fexit takes the
 * entry's decision (the program may rewrite the packet: NAT, decapsulation) and BPF helpers called in between are
 * attributed to the top frame. tc and XDP programs run with preemption off (softirq, or BH disabled on egress), so
 * frames only nest through calls such as bpf_clone_redirect(); a frame whose ctx does not match is reset.
 * One slot per CPU of a plain array, whose lookups the verifier inlines: between its first instruction and
 * `busy = 0` an fentry/fexit program calls no kernel function the helper kprobe could see except
 * bpf_get_smp_processor_id (left out of the helper list), so the kprobe ignores what our own programs call. */
#define PROG_DEPTH 4
enum prog_hook {
	HOOK_TC = 0,
	HOOK_XDP = 1,
};
struct prog_frame {
	__u64 ctx;     /* the sk_buff or xdp_buff */
	__u32 prog_id;
	__u8 hook;     /* enum prog_hook */
	__u8 matched;  /* the entry passed the filters */
	__u8 _pad[2];
};
struct prog_stack {
	struct prog_frame f[PROG_DEPTH];
	__u32 depth;   /* frames pushed, also beyond PROG_DEPTH (those are not stored) */
	__u32 busy;    /* an fentry/fexit program of ours is running on this CPU */
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* the loader sets the number of possible CPUs */
	__type(key, __u32);
	__type(value, struct prog_stack);
} PROG_STACK SEC(".maps");

/* --output-bpfmap: the map operation being reported on this CPU, filled by the map-operation kprobes
 * (bpfprog.c) and copied into the event's SEC_MAP_OP section. A lookup is built at its entry and completed at its
 * return; `depth` counts the lookups entered and not returned (a map type's lookup may call another probed one),
 * and only the outermost is reported. */
struct map_op_pending {
	__u64 ts;        /* when the outermost lookup began */
	__u64 func_ip;   /* its function (bpf_get_func_ip() at the return is not the entry's) */
	__u32 depth;
	__u32 armed;     /* the outermost lookup is the traced program's: report it at its return */
	struct section_map_op op;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct map_op_pending);
} MAP_OP SEC(".maps");

/* ids of this object's own maps, filled by the loader: lookups our tracepoint programs do while a traced program
 * runs are not the program's */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} OWN_MAPS SEC(".maps");

volatile const __u32 CFG_HTAB_KEY_OFF = 0; /* offsetof(struct htab_elem, key) in this kernel, 0 = unknown */

/* data_hard_start of buffers a traced XDP program passed after they matched: the skb the kernel then builds on
 * the buffer (skb->head == data_hard_start: generic XDP, veth, most drivers' build_skb) continues the trace. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} XDP_HEADS SEC(".maps");

/* skb tracking: addresses of skbs that matched once */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} TRACKED SEC(".maps");

/* skb_clone/skb_copy entry -> return: the source skb if it is tracked, else 0 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} CLONE_SRC SEC(".maps");

/* ---- the in-kernel summary (CFG_SUMMARY) ---- */

/* enum pwru_role by summary index, filled by the loader */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* the loader sets the number of targets */
	__type(key, __u32);
	__type(value, __u32);
} SUM_ROLES SEC(".maps");

/* events by summary index */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1); /* the loader sets the number of targets */
	__type(key, __u32);
	__type(value, __u64);
} SUM_FUNCS SEC(".maps");

/* The packet at an skb address: what fate.rs's same_packet() reads of its latest event. LRU: a packet whose free
 * no probe saw (a datagram delivered to a socket, on the tracepoint backend) makes room, as userspace's table of
 * the same size evicts its least recently seen. */
enum sum_life {
	LIFE_LIVE = 0,
	LIFE_RELEASING = 1,
};
struct sum_path {
	__u64 ts;
	__u32 netns;
	__u32 ifindex;
	__u32 roles;
	__u8 life;    /* enum sum_life; a freed packet leaves the table */
	__u8 dropped; /* its first drop was shipped */
	__u8 _pad[2];
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); /* 1 unless summarizing */
	__type(key, __u64);
	__type(value, struct sum_path);
} SUM_PATHS SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&COUNTERS, &idx);

	if (v)
		*v += 1; /* per-CPU slot: no atomics needed */
}

static __always_inline int is_tracked(__u64 addr)
{
	return bpf_map_lookup_elem(&TRACKED, &addr) != 0;
}

static __always_inline void track(__u64 addr)
{
	__u8 one = 1;

	if (bpf_map_update_elem(&TRACKED, &addr, &one, BPF_ANY))
		count(CNT_TRACK_FULL);
}


#endif
