/* SPDX-License-Identifier: GPL-2.0 */
/* handle(): the body every tracing program shares (filters, then one event into the ring buffer). */
#ifndef PWRU_HANDLE_H
#define PWRU_HANDLE_H

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
		if (HAVE_SKB_EXPR && !btf_filter(skb))
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

#endif
