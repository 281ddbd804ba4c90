// SPDX-License-Identifier: GPL-2.0
/* pwru's probes: one event per (skb, probed function or tracepoint) into a ring buffer.
 *
 * Every program is a thin wrapper that finds the skb (and a drop reason, where the probed function carries one)
 * and calls handle(), which applies the in-kernel filters and fills struct event. All helpers are
 * __always_inline: the only real subprogram is the pcap_filter stub (filter.h), which the loader splices. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "event.h"
#include "kernel.h"
#include "filter.h"

char LICENSE[] SEC("license") = "GPL";

/* pt_regs seen as an array of u64: the index of each argument register, of the stack pointer / link register
 * and of the return-value register. */
#if defined(__TARGET_ARCH_x86)
#define REG_ARG1 14 /* di */
#define REG_ARG2 13 /* si */
#define REG_ARG3 12 /* dx */
#define REG_ARG4 11 /* cx */
#define REG_ARG5 9  /* r8 */
#define REG_SP 19
#define REG_RET 10 /* ax */
#elif defined(__TARGET_ARCH_arm64)
#define REG_ARG1 0
#define REG_ARG2 1
#define REG_ARG3 2
#define REG_ARG4 3
#define REG_ARG5 4
#define REG_LR 30
#define REG_RET 0
#else
#error "define __TARGET_ARCH_x86 or __TARGET_ARCH_arm64"
#endif

#define REG(ctx, idx) (((volatile __u64 *)(ctx))[idx])
#define KARG(ctx, n) REG(ctx, REG_ARG##n)
/* tracepoint (tp_btf and raw_tp) context: the tracepoint's arguments as u64s */
#define TPARG(ctx, n) (((volatile __u64 *)(ctx))[n])

/* ---- configuration, written by the loader before load (EbpfLoader::set_global) ---- */
volatile const __u32 CFG_NETNS = 0;      /* netns inode to keep, 0 = any */
volatile const __u32 CFG_MARK_ON = 0;    /* 1 = keep only (mark & CFG_MARK_MASK) == CFG_MARK */
volatile const __u32 CFG_MARK = 0;
volatile const __u32 CFG_MARK_MASK = 0;
volatile const __u32 CFG_IFINDEX = 0;    /* ifindex to keep, 0 = any */
volatile const __u32 CFG_TRACK_SKB = 0;  /* 1 = --filter-track-skb */
volatile const __u32 CFG_CALLER = 0;     /* 1 = record the caller's address (kprobes only) */
volatile const __u32 CFG_STACK = 0;      /* 1 = record a stack id */
volatile const __u32 CFG_SELF_TGID = 0;  /* the tracer's own pid: its netlink skbs are not packets */
volatile const __u32 HAVE_FILTER = 0;    /* 1 = a pcap filter is spliced into pcap_filter() */
volatile const __u32 FILTER_SNAPLEN = FILTER_BUF_SIZE;
volatile const __u32 FILTER_TEST_L3 = 0; /* filter_test: hand the stub the packet from its IP header */

/* Puts struct event into the object's BTF (locals of inlined functions are not described there), so that
 * tests/layout.rs can check it against RawEvent. */
struct event *const EVENT_BTF_ANCHOR __attribute__((used)) = 0;

/* ---- maps ---- */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24); /* the loader sets the real size */
} EVENTS SEC(".maps");

#define CNT_PRODUCED 0    /* events that passed the filters */
#define CNT_LOST 1        /* of those, events the ring buffer had no room for */
#define CNT_TRACK_FULL 2  /* skbs --filter-track-skb could not remember (TRACKED full) */
#define CNT_MAX 3
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

/* --filter-track-skb: addresses of skbs that matched once */
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

static __always_inline __u32 netns_of(struct sk_buff *skb, struct net_device *dev)
{
	__u32 inum = 0;

	if (dev)
		inum = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	if (!inum) {
		struct sock *sk = BPF_CORE_READ(skb, sk);

		if (sk)
			inum = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	}
	return inum;
}

/* The tracer's own rtnetlink lookups (interface names) would otherwise show up as events. Only its netlink skbs are
 * skipped: a softirq can run real packets while the tracer happens to be the current task. */
static __always_inline int is_own_netlink(struct sk_buff *skb)
{
	if (!CFG_SELF_TGID || (bpf_get_current_pid_tgid() >> 32) != CFG_SELF_TGID)
		return 0;
	struct sock *sk = BPF_CORE_READ(skb, sk);

	return sk && BPF_CORE_READ(sk, __sk_common.skc_family) == 16 /* AF_NETLINK */;
}

#define HDR_UNSET 0xffff

/* Copies the packet into FILTER_BUF and runs the spliced pcap filter on it: from the Ethernet header when the skb
 * has one (mac header set and mac_len != 0), else from the network header (DLT_RAW). */
static __always_inline int run_filter(struct sk_buff *skb)
{
	__u32 zero = 0;
	struct filter_buf *fb = bpf_map_lookup_elem(&FILTER_BUF, &zero);

	if (!fb)
		return 0;

	unsigned char *head = BPF_CORE_READ(skb, head);
	unsigned char *data = BPF_CORE_READ(skb, data);
	__u32 mac = BPF_CORE_READ(skb, mac_header);
	__u32 nh = BPF_CORE_READ(skb, network_header);
	__u32 mac_len = BPF_CORE_READ(skb, mac_len);
	__u32 tail = BPF_CORE_READ(skb, tail);
	__u32 len = BPF_CORE_READ(skb, len);
	__u64 data_off = data - head;
	__u64 off;
	__u32 l3;

	if (mac != HDR_UNSET && mac_len != 0) {
		off = mac;
		l3 = 0;
	} else {
		off = nh ? nh : data_off;
		l3 = 1;
	}

	__u64 wire = data_off + len > off ? data_off + len - off : 0;
	__u64 caplen = tail > off ? tail - off : 0;

	if (caplen > FILTER_SNAPLEN)
		caplen = FILTER_SNAPLEN;
	if (caplen > FILTER_BUF_SIZE)
		caplen = FILTER_BUF_SIZE;
	if (bpf_probe_read_kernel(fb->data, caplen, head + off))
		caplen = 0;
	return pcap_filter(fb->data, caplen, wire, l3);
}

#define IPV6_MAX_EXT_HDRS 8

/* Fills the tuple fields of e from the packet's IP header (IPv4 or IPv6, after the IPv6 extension headers). */
static __always_inline void parse_tuple(struct event *e, struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u32 nh = BPF_CORE_READ(skb, network_header);
	__u32 mac = BPF_CORE_READ(skb, mac_header);
	unsigned char *l3;
	__u8 b[2];

	if (nh) {
		l3 = head + nh;
	} else if (mac != HDR_UNSET) {
		/* network header not set yet: find it behind the Ethernet header and at most one VLAN tag */
		__be16 type;

		if (bpf_probe_read_kernel(&type, 2, head + mac + 12))
			return;
		l3 = head + mac + 14;
		if (type == bpf_htons(0x8100) || type == bpf_htons(0x88a8)) {
			if (bpf_probe_read_kernel(&type, 2, head + mac + 16))
				return;
			l3 += 4;
		}
		if (type != bpf_htons(0x0800) && type != bpf_htons(0x86dd))
			return;
	} else {
		return;
	}

	if (bpf_probe_read_kernel(b, 2, l3))
		return;

	unsigned char *l4;
	__u8 proto;
	int fragment = 0;

	if ((b[0] >> 4) == 4) {
		__u8 ip[20];

		if (bpf_probe_read_kernel(ip, sizeof(ip), l3))
			return;
		__u32 ihl = (ip[0] & 0xf) * 4;
		if (ihl < 20)
			return;
		proto = ip[9];
		__builtin_memcpy(e->saddr, &ip[12], 4);
		__builtin_memcpy(e->daddr, &ip[16], 4);
		fragment = ((ip[6] & 0x1f) << 8 | ip[7]) != 0;
		l4 = l3 + ihl;
	} else if ((b[0] >> 4) == 6) {
		__u8 nexthdr;

		if (bpf_probe_read_kernel(&nexthdr, 1, l3 + 6) ||
		    bpf_probe_read_kernel(e->saddr, 16, l3 + 8) ||
		    bpf_probe_read_kernel(e->daddr, 16, l3 + 24))
			return;
		e->flags |= EV_IPV6;
		l4 = l3 + 40;
#pragma unroll
		for (int i = 0; i < IPV6_MAX_EXT_HDRS; i++) {
			__u8 h[4];
			__u32 hlen;

			if (nexthdr != 0 && nexthdr != 43 && nexthdr != 60 && nexthdr != 44 && nexthdr != 51)
				break;
			if (bpf_probe_read_kernel(h, sizeof(h), l4))
				return;
			if (nexthdr == 44) { /* fragment: fixed 8 bytes; later fragments carry no L4 header */
				hlen = 8;
				if (((h[2] << 8 | h[3]) & 0xfff8) != 0)
					fragment = 1;
			} else if (nexthdr == 51) { /* AH: length in 4-byte units, minus 2 */
				hlen = (h[1] + 2) * 4;
			} else { /* hop-by-hop, routing, destination options: 8-byte units, minus 1 */
				hlen = (h[1] + 1) * 8;
			}
			nexthdr = h[0];
			l4 += hlen;
		}
		proto = nexthdr;
	} else {
		return;
	}

	e->l4_proto = proto;
	e->flags |= EV_HAS_TUPLE;
	if (fragment)
		return;
	if (proto == 6 || proto == 17 || proto == 132 || proto == 136) { /* TCP, UDP, SCTP, UDP-Lite */
		__be16 ports[2];

		if (bpf_probe_read_kernel(ports, sizeof(ports), l4))
			return;
		e->sport = bpf_ntohs(ports[0]);
		e->dport = bpf_ntohs(ports[1]);
		if (proto == 6)
			bpf_probe_read_kernel(&e->tcp_flags, 1, l4 + 13);
	}
}

/* The shared body of every tracing program. */
static __always_inline int handle(void *ctx, struct sk_buff *skb, __u64 func_ip, __u64 caller, int has_caller,
				  __u32 probe_id, __u8 kind, int has_reason, __u32 reason)
{
	if (!skb || is_own_netlink(skb))
		return 0;

	__u64 addr = (__u64)skb;
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	__u32 netns = netns_of(skb, dev);
	__u32 mark = BPF_CORE_READ(skb, mark);
	__u32 ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	__u8 flags = 0;

	if (CFG_TRACK_SKB && is_tracked(addr)) {
		flags |= EV_TRACKED;
	} else {
		if (CFG_NETNS && netns != CFG_NETNS)
			return 0;
		if (CFG_MARK_ON && (mark & CFG_MARK_MASK) != CFG_MARK)
			return 0;
		if (CFG_IFINDEX && ifindex != CFG_IFINDEX)
			return 0;
		if (HAVE_FILTER && !run_filter(skb))
			return 0;
		if (CFG_TRACK_SKB)
			track(addr);
	}

	count(CNT_PRODUCED);
	struct event *e = bpf_ringbuf_reserve(&EVENTS, sizeof(*e), 0);

	if (!e) {
		count(CNT_LOST);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->skb = addr;
	e->func_ip = func_ip;
	e->probe_id = probe_id;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->cpu = bpf_get_smp_processor_id();
	e->netns = netns;
	e->mark = mark;
	e->ifindex = ifindex;
	e->len = BPF_CORE_READ(skb, len);
	e->mtu = dev ? BPF_CORE_READ(dev, mtu) : 0;
	e->protocol = BPF_CORE_READ(skb, protocol);
	e->pkt_type = BPF_CORE_READ_BITFIELD_PROBED(skb, pkt_type);
	e->kind = kind;
	e->flags = flags;
	if (has_caller) {
		e->caller_ip = caller;
		e->flags |= EV_HAS_CALLER;
	}
	if (has_reason) {
		e->drop_reason = reason;
		e->flags |= EV_HAS_REASON;
	}
	if (CFG_STACK) {
		long id = bpf_get_stackid(ctx, &STACKS, 0);

		if (id >= 0) {
			e->stack_id = id;
			e->flags |= EV_HAS_STACK;
		}
	}
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	parse_tuple(e, skb);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* ---- kprobes and kprobe-multi ---- */

static __always_inline __u64 kprobe_caller(void *ctx)
{
	__u64 ret = 0;
#if defined(__TARGET_ARCH_x86)
	/* at function entry the return address is on top of the stack */
	bpf_probe_read_kernel(&ret, sizeof(ret), (void *)REG(ctx, REG_SP));
#else
	ret = REG(ctx, REG_LR);
#endif
	return ret;
}

static __always_inline int on_kprobe(void *ctx, __u64 skb, int has_reason, __u32 reason)
{
	int want_caller = CFG_CALLER != 0;
	__u64 caller = want_caller ? kprobe_caller(ctx) : 0;

	return handle(ctx, (struct sk_buff *)skb, bpf_get_func_ip(ctx), caller, want_caller, 0, EV_KIND_KPROBE,
		      has_reason, reason);
}

/* kprobe_skb_N: the skb is argument N. kprobe_multi_skb_N: the same, loaded by the loader with
 * expected_attach_type = BPF_TRACE_KPROBE_MULTI (the section says kprobe/ so that aya-obj parses it). */
#define KPROBE_SKB(N)                                                                \
	SEC("kprobe/skb_" #N)                                                        \
	int kprobe_skb_##N(void *ctx) { return on_kprobe(ctx, KARG(ctx, N), 0, 0); } \
	SEC("kprobe/multi_skb_" #N)                                                  \
	int kprobe_multi_skb_##N(void *ctx) { return on_kprobe(ctx, KARG(ctx, N), 0, 0); }

KPROBE_SKB(1)
KPROBE_SKB(2)
KPROBE_SKB(3)
KPROBE_SKB(4)
KPROBE_SKB(5)

/* Functions that carry a drop reason: kfree_skb_reason(skb, reason) and, on 6.11+,
 * sk_skb_reason_drop(sk, skb, reason). */
#define KPROBE_SKB_REASON(N, R)                                                                         \
	SEC("kprobe/skb_" #N "_reason_" #R)                                                             \
	int kprobe_skb_##N##_reason_##R(void *ctx)                                                      \
	{                                                                                               \
		return on_kprobe(ctx, KARG(ctx, N), 1, KARG(ctx, R));                                    \
	}                                                                                               \
	SEC("kprobe/multi_skb_" #N "_reason_" #R)                                                       \
	int kprobe_multi_skb_##N##_reason_##R(void *ctx)                                                \
	{                                                                                               \
		return on_kprobe(ctx, KARG(ctx, N), 1, KARG(ctx, R));                                    \
	}

KPROBE_SKB_REASON(1, 2)
KPROBE_SKB_REASON(2, 3)

/* --filter-track-skb bookkeeping (kprobe backends only) */
SEC("kprobe/kfree_skbmem")
int kprobe_untrack(void *ctx)
{
	untrack(KARG(ctx, 1));
	return 0;
}

/* skb_clone/skb_copy entry: remember the source while the function runs, if it is tracked */
SEC("kprobe/skb_clone")
int kprobe_clone_entry(void *ctx)
{
	__u32 zero = 0;
	__u64 *src = bpf_map_lookup_elem(&CLONE_SRC, &zero);

	if (src)
		*src = is_tracked(KARG(ctx, 1)) ? KARG(ctx, 1) : 0;
	return 0;
}

/* ... and its return: track the new skb */
SEC("kretprobe/skb_clone")
int kretprobe_clone_exit(void *ctx)
{
	__u32 zero = 0;
	__u64 *src = bpf_map_lookup_elem(&CLONE_SRC, &zero);
	__u64 ret = REG(ctx, REG_RET);

	if (src && *src) {
		if (ret)
			track(ret);
		*src = 0;
	}
	return 0;
}

/* ---- tracepoints ----
 * The loader loads each tracepoint program once per tracepoint and patches the immediate of the marker
 * instruction below with that tracepoint's index; bit 31 asks to forget the skb for --filter-track-skb after the
 * event (set on skb:kfree_skb and skb:consume_skb, the tracepoint backend's stand-in for kfree_skbmem). */
#define TP_ID_MARKER 0x7e7e7e7e
#define TP_ID_UNTRACK (1u << 31)

static __always_inline int on_tracepoint(void *ctx, __u64 skb, int has_reason, __u32 reason, __u64 caller)
{
	__u64 id;

	asm volatile("%0 = 0x7e7e7e7e" : "=r"(id));
	handle(ctx, (struct sk_buff *)skb, 0, caller, caller != 0, id & ~TP_ID_UNTRACK & 0xffffffff,
	       EV_KIND_TRACEPOINT, has_reason, reason);
	if (CFG_TRACK_SKB && (id & TP_ID_UNTRACK))
		untrack(skb);
	return 0;
}

/* tp_btf_skb_N / raw_tp_skb_N: the skb is tracepoint argument N (0-based). The section names are
 * placeholders: the loader sets the attach target per load. */
#define TRACEPOINT_SKB(N)                                                                   \
	SEC("tp_btf/skb_" #N)                                                               \
	int tp_btf_skb_##N(void *ctx) { return on_tracepoint(ctx, TPARG(ctx, N), 0, 0, 0); } \
	SEC("raw_tp/skb_" #N)                                                               \
	int raw_tp_skb_##N(void *ctx) { return on_tracepoint(ctx, TPARG(ctx, N), 0, 0, 0); }

TRACEPOINT_SKB(0)
TRACEPOINT_SKB(1)
TRACEPOINT_SKB(2)
TRACEPOINT_SKB(3)
TRACEPOINT_SKB(4)

/* skb:kfree_skb(skb, location, reason, ...): `location` is the address the skb was dropped from, reported as
 * the event's caller. */
SEC("tp_btf/skb_0_reason_2")
int tp_btf_skb_0_reason_2(void *ctx)
{
	return on_tracepoint(ctx, TPARG(ctx, 0), 1, TPARG(ctx, 2), TPARG(ctx, 1));
}

SEC("raw_tp/skb_0_reason_2")
int raw_tp_skb_0_reason_2(void *ctx)
{
	return on_tracepoint(ctx, TPARG(ctx, 0), 1, TPARG(ctx, 2), TPARG(ctx, 1));
}

/* ---- in-kernel check of a spliced filter (BPF_PROG_TEST_RUN from probes::filter_check) ---- */
SEC("classifier")
int filter_test(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct filter_buf *fb = bpf_map_lookup_elem(&FILTER_BUF, &zero);

	if (!fb)
		return 0;

	__u32 start = FILTER_TEST_L3 ? 14 : 0;
	__u64 wire = skb->len > start ? skb->len - start : 0;
	__u64 caplen = wire;

	if (caplen > FILTER_SNAPLEN)
		caplen = FILTER_SNAPLEN;
	if (caplen > FILTER_BUF_SIZE)
		caplen = FILTER_BUF_SIZE;
	if (caplen && bpf_skb_load_bytes(skb, start, fb->data, caplen))
		caplen = 0;
	return pcap_filter(fb->data, caplen, wire, FILTER_TEST_L3 ? 1 : 0);
}
