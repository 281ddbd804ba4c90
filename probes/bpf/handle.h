/* SPDX-License-Identifier: GPL-2.0 */
/* handle(): the body every tracing program shares (filters, then one event into the ring buffer). */
#ifndef PWRU_HANDLE_H
#define PWRU_HANDLE_H

/* What handle() learnt about the skb before it decided to emit an event. */
struct seen {
	__u64 addr;
	struct net_device *dev;
	__u32 netns;
	__u32 mark;
	__u32 ifindex;
	__u8 flags;
};

/* Fills the fixed part of an event (head.size/nsections/sections: the fixed part alone). */
static __always_inline void fill_event(struct event *e, void *ctx, struct sk_buff *skb, struct seen *s,
				       __u64 func_ip, __u64 caller, int has_caller, __u32 probe_id, __u8 kind,
				       int has_reason, __u32 reason)
{
	struct net_device *dev = s->dev; /* a local, as in handle() */

	__builtin_memset(e, 0, sizeof(*e));
	e->head.size = sizeof(*e);
	e->head.rtype = REC_EVENT;
	e->ts_ns = bpf_ktime_get_ns();
	e->skb = s->addr;
	e->func_ip = func_ip;
	e->probe_id = probe_id;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->cpu = bpf_get_smp_processor_id();
	e->netns = s->netns;
	e->mark = s->mark;
	e->ifindex = s->ifindex;
	e->len = BPF_CORE_READ(skb, len);
	e->mtu = dev ? BPF_CORE_READ(dev, mtu) : 0;
	e->protocol = BPF_CORE_READ(skb, protocol);
	e->pkt_type = BPF_CORE_READ_BITFIELD_PROBED(skb, pkt_type);
	e->kind = kind;
	e->flags = s->flags;
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
}

/* Appends the SEC_PACKET section (up to CFG_SNAPLEN bytes of the packet's linear data) to the record of head, whose
 * section header, payload header and bytes are at sh, pk and bytes (record_buf or record_buf_tunnel). */
static __always_inline void add_packet(struct record_head *head, struct section_head *sh, struct section_packet *pk,
				       __u8 *bytes, struct sk_buff *skb)
{
	struct pkt_span p = packet_span(skb);
	__u64 cap = read_packet(bytes, &p, CFG_SNAPLEN, SNAPLEN_MAX);

	sh->kind = SEC_PACKET;
	sh->flags = 0;
	sh->len = sizeof(*pk) + cap;
	pk->orig_len = p.wire;
	pk->cap_len = cap;
	pk->start = p.l3 ? PKT_START_L3 : PKT_START_L2;
	pk->_pad = 0;
	head->size += sizeof(*sh) + sizeof(*pk) + cap;
	head->nsections++;
	head->sections |= 1u << SEC_PACKET;
}

/* Adds the sections the configuration asks for to r's event: SEC_TUNNEL for a tunnel packet, then SEC_PACKET. */
static __always_inline void add_sections(struct record_buf *r, struct sk_buff *skb)
{
	struct tunnel_at t;

	if (CFG_TUNNEL && find_tunnel(skb, &t)) {
		struct record_buf_tunnel *rt = (void *)r;

		rt->tunnel_head.kind = SEC_TUNNEL;
		rt->tunnel_head.flags = 0;
		rt->tunnel_head.len = sizeof(rt->tunnel);
		tunnel_tuple(&t, &rt->tunnel);
		rt->event.head.size += sizeof(rt->tunnel_head) + sizeof(rt->tunnel);
		rt->event.head.nsections++;
		rt->event.head.sections |= 1u << SEC_TUNNEL;
		if (CFG_SNAPLEN)
			add_packet(&rt->event.head, &rt->packet_head, &rt->packet, rt->bytes, skb);
		return;
	}
	if (CFG_SNAPLEN)
		add_packet(&r->event.head, &r->packet_head, &r->packet, r->bytes, skb);
}

/* The shared body of every tracing program. */
static __always_inline int handle(void *ctx, struct sk_buff *skb, __u64 func_ip, __u64 caller, int has_caller,
				  __u32 probe_id, __u8 kind, int has_reason, __u32 reason)
{
	if (!skb || is_own_netlink(skb))
		return 0;

	/* Kernel pointers go through locals: BPF_CORE_READ(s.dev, ...) would be a CO-RE access to struct seen. */
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	struct seen s = {
		.addr = (__u64)skb,
		.dev = dev,
		.netns = netns_of(skb, dev),
		.mark = BPF_CORE_READ(skb, mark),
		.ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0,
	};

	if (CFG_TRACK_SKB && is_tracked(s.addr)) {
		s.flags |= EV_TRACKED;
	} else {
		if (CFG_NETNS && s.netns != CFG_NETNS)
			return 0;
		if (CFG_MARK_ON && (s.mark & CFG_MARK_MASK) != CFG_MARK)
			return 0;
		if (CFG_IFINDEX && s.ifindex != CFG_IFINDEX)
			return 0;
		if (HAVE_FILTER && !run_filter(skb))
			return 0;
		if ((HAVE_TUNNEL_L2 || HAVE_TUNNEL_L3) && !tunnel_filters_pass(skb))
			return 0;
		if (CFG_TRACK_SKB)
			track(s.addr);
	}

	count(CNT_PRODUCED);
	/* Without sections the fixed-size record is reserved in the ring and written in place. With sections its size
	 * is known only at the end (bpf_ringbuf_reserve needs a constant): it is built in the per-CPU buffer and then
	 * exactly its size is copied into the ring. CFG_SNAPLEN and CFG_TUNNEL are load-time constants, so the verifier
	 * keeps one of the two paths. */
	struct record_buf *r = 0;
	struct event *e;

	if (CFG_SNAPLEN || CFG_TUNNEL) {
		__u32 zero = 0;

		r = bpf_map_lookup_elem(&RECORD_BUF, &zero);
		e = r ? &r->event : 0;
	} else {
		e = bpf_ringbuf_reserve(&EVENTS, sizeof(*e), 0);
	}
	if (!e) {
		count(CNT_LOST);
		return 0;
	}
	fill_event(e, ctx, skb, &s, func_ip, caller, has_caller, probe_id, kind, has_reason, reason);
	if (!r) {
		bpf_ringbuf_submit(e, 0);
		return 0;
	}
	add_sections(r, skb);
	__u64 size = r->event.head.size;

	if (size > sizeof(*r))
		size = sizeof(*r);
	if (bpf_ringbuf_output(&EVENTS, r, size, 0))
		count(CNT_LOST);
	return 0;
}

#endif
