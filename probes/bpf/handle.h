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

/* ---- the BTF sections (issue 11), after the tunnel's and the packet's; each may start no later than its *_MAX
 * offset, a constant the verifier can check what the section writes against ---- */
#define VALUES_OFF_MAX                                                                                              \
	(sizeof(struct event) + sizeof(struct section_head) + sizeof(struct section_tunnel) +                       \
	 sizeof(struct section_head) + sizeof(struct section_packet) + SNAPLEN_MAX)
#define DUMP_OFF_MAX (VALUES_OFF_MAX + sizeof(struct section_head) + BTF_AREA_MAX)
#define DUMP2_OFF_MAX (DUMP_OFF_MAX + sizeof(struct section_head) + sizeof(struct section_dump) + DUMP_BUF_MAX)
_Static_assert(VALUES_OFF_MAX % 8 == 0 && DUMP_OFF_MAX % 8 == 0 && DUMP2_OFF_MAX % 8 == 0, "8-byte aligned");
_Static_assert(DUMP2_OFF_MAX + sizeof(struct section_head) + sizeof(struct section_dump) + DUMP_BUF_MAX ==
		       sizeof(struct record_buf), "record_buf holds every section at its largest");

/* Starts a section at the record's next 8-byte boundary (zeroing the padding before it) if that is at most max;
 * returns its header, to be completed by section_end(). */
static __always_inline struct section_head *section_begin(struct record_buf *r, __u32 max)
{
	__u32 size = r->event.head.size;
	__u32 off = (size + 7) & ~7u;
	__u8 *b = (__u8 *)r;

	if (off > max || size > max)
		return 0;
#pragma unroll
	for (int i = 0; i < 7; i++)
		if (size + i < off)
			b[size + i] = 0;
	r->event.head.size = off;
	return (struct section_head *)(b + off);
}

static __always_inline void section_end(struct record_buf *r, struct section_head *h, __u16 kind, __u16 flags,
					__u32 len)
{
	h->kind = kind;
	h->flags = flags;
	h->len = len;
	r->event.head.size += sizeof(*h) + len;
	r->event.head.nsections++;
	r->event.head.sections |= 1u << kind;
}

/* SEC_BTF_VALUES: the spliced fetcher's values for this skb. */
static __always_inline void add_btf_values(struct record_buf *r, struct sk_buff *skb)
{
	struct section_head *h = section_begin(r, VALUES_OFF_MAX);

	if (!h)
		return;
	btf_fetch(skb, h + 1);
	section_end(r, h, SEC_BTF_VALUES, 0, CFG_META_SIZE);
}

/* SEC_BTF_DUMP: the kernel's text of the struct at ptr (type_id in the running kernel's BTF). */
static __always_inline void add_btf_dump(struct record_buf *r, void *ptr, __u32 type_id, __u8 what, __u32 max)
{
	struct section_head *h = section_begin(r, max);

	if (!h)
		return;
	struct section_dump *d = (struct section_dump *)(h + 1);
	struct btf_ptr p = { .ptr = ptr, .type_id = type_id };
	__u32 size = CFG_DUMP_SIZE;
	__u32 len = 0;
	__u16 flags = 0;

	if (size > DUMP_BUF_MAX)
		size = DUMP_BUF_MAX;
	if (size < 1)
		size = 1;
	long n = bpf_snprintf_btf((char *)(d + 1), size, &p, sizeof(p), 0);

	if (n >= size) {
		len = size - 1; /* what fit, without its NUL */
		flags = SECF_CUT;
	} else if (n > 0) {
		len = n;
	}
	d->ret = n;
	d->what = what;
	d->_pad[0] = d->_pad[1] = d->_pad[2] = 0;
	section_end(r, h, SEC_BTF_DUMP, flags, sizeof(*d) + len);
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
		if (HAVE_SKB_EXPR && !btf_filter(skb))
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
	 * exactly its size is copied into the ring. The CFG_* are load-time constants, so the verifier keeps one of the
	 * two paths. */
	struct record_buf *r = 0;
	struct event *e;

	if (CFG_SNAPLEN || CFG_TUNNEL || CFG_META_SIZE || CFG_DUMP_SKB || CFG_DUMP_SHINFO) {
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
	if (CFG_META_SIZE)
		add_btf_values(r, skb);
	if (CFG_DUMP_SKB)
		add_btf_dump(r, skb, CFG_SKB_BTF_ID, DUMP_SKB, DUMP_OFF_MAX);
	if (CFG_DUMP_SHINFO) {
		unsigned char *head = BPF_CORE_READ(skb, head);
		__u32 end = BPF_CORE_READ(skb, end);

		add_btf_dump(r, head + end, CFG_SHINFO_BTF_ID, DUMP_SHINFO, DUMP2_OFF_MAX);
	}
	__u64 size = r->event.head.size;

	if (size > sizeof(*r))
		size = sizeof(*r);
	if (bpf_ringbuf_output(&EVENTS, r, size, 0))
		count(CNT_LOST);
	return 0;
}

#endif
