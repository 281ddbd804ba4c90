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
volatile const __u32 CFG_CALLER = 0;     /* 1 = record the caller's address (kprobes only) */
volatile const __u32 CFG_STACK = 0;      /* 1 = record a stack id */
volatile const __u32 CFG_SELF_TGID = 0;  /* the tracer's own pid: its netlink skbs are not packets */
volatile const __u32 HAVE_FILTER = 0;    /* 1 = a pcap filter is spliced into pcap_filter() */
volatile const __u32 FILTER_SNAPLEN = FILTER_BUF_SIZE;
volatile const __u32 FILTER_TEST_L3 = 0; /* filter_test: hand the stub the packet from its IP header */
volatile const __u32 CFG_SNAPLEN = 0;    /* packet bytes per event (SEC_PACKET), 0 = none */
volatile const __u32 CFG_TUNNEL = 0;     /* 1 = a SEC_TUNNEL section on the events of tunnel packets */
volatile const __u32 HAVE_TUNNEL_L2 = 0; /* 1 = the joined stub has a --filter-tunnel-pcap-l2 filter */
volatile const __u32 HAVE_TUNNEL_L3 = 0; /* 1 = ... and a --filter-tunnel-pcap-l3 filter */
volatile const __u32 TUNNEL_SNAPLEN_L2 = FILTER_BUF_SIZE;
volatile const __u32 TUNNEL_SNAPLEN_L3 = FILTER_BUF_SIZE;

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
 * without sections are reserved in the ring and written in place). */
struct record_buf {
	struct event event;
	struct section_head packet_head;
	struct section_packet packet;
	__u8 bytes[SNAPLEN_MAX];
	__u8 room[sizeof(struct section_head) + sizeof(struct section_tunnel)]; /* for record_buf_tunnel */
};
/* The same buffer when the event carries a SEC_TUNNEL section (before the packet, so both stay at fixed offsets). */
struct record_buf_tunnel {
	struct event event;
	struct section_head tunnel_head;
	struct section_tunnel tunnel;
	struct section_head packet_head;
	struct section_packet packet;
	__u8 bytes[SNAPLEN_MAX];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct record_buf);
} RECORD_BUF SEC(".maps");

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

static __always_inline void untrack(__u64 addr)
{
	bpf_map_delete_elem(&TRACKED, &addr);
}

#endif
