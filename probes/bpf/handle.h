/* SPDX-License-Identifier: GPL-2.0 */
/* The body every tracing program shares: the filters, then one event into the ring buffer. skb events come from
 * kprobes, tracepoints, traced tc programs and BPF helpers; XDP events (an xdp_buff, no skb) from traced XDP
 * programs and their helpers. */
#ifndef PWRU_HANDLE_H
#define PWRU_HANDLE_H

/* What the probe that fired knows, besides the packet. */
struct probe {
	__u64 func_ip;  /* the probed function (kprobe kinds) */
	__u64 caller;   /* with has_caller */
	__u32 probe_id; /* tracepoint index, traced program id */
	__u32 reason;   /* with has_reason */
	__s32 retval;   /* with has_verdict: what the traced program returned */
	__u8 kind;      /* EV_KIND_* */
	__u8 flags;     /* EV_* added to the event's (EV_IN_PROG) */
	__u8 has_caller;
	__u8 has_reason;
	__u8 has_verdict;
	__u8 has_map_op; /* the event carries MAP_OP's operation (SEC_MAP_OP) */
};

/* What the filters looked at. */
struct seen {
	__u64 addr;
	struct net_device *dev;
	__u32 netns;
	__u32 mark;
	__u32 ifindex;
	__u8 flags;
};

static __always_inline void seen_skb(struct sk_buff *skb, struct seen *s)
{
	/* Kernel pointers go through locals: BPF_CORE_READ(s->dev, ...) would be a CO-RE access to struct seen. */
	struct net_device *dev = BPF_CORE_READ(skb, dev);

	s->addr = (__u64)skb;
	s->dev = dev;
	s->netns = netns_of(skb, dev);
	s->mark = BPF_CORE_READ(skb, mark);
	s->ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	s->flags = 0;
}

/* netns, mark and ifname filters on what s holds. */
static __always_inline int meta_passes(struct seen *s)
{
	if (CFG_NETNS && s->netns != CFG_NETNS)
		return 0;
	if (CFG_MARK_ON && (s->mark & CFG_MARK_MASK) != CFG_MARK)
		return 0;
	if (CFG_IFINDEX && s->ifindex != CFG_IFINDEX)
		return 0;
	return 1;
}

/* Whether the skb passes the filters (and is then followed from here on with skb tracking). */
static __always_inline int skb_passes(struct sk_buff *skb, struct seen *s)
{
	if (!meta_passes(s))
		return 0;
	if (HAVE_SKB_EXPR && !btf_filter(skb))
		return 0;
	if (HAVE_FILTER && !run_filter(skb))
		return 0;
	if ((HAVE_TUNNEL_L2 || HAVE_TUNNEL_L3) && !tunnel_filters_pass(skb))
		return 0;
	if (CFG_TRACK_SKB)
		track(s->addr);
	return 1;
}

/* Whether the skb is an event: followed by skb tracking, built on a buffer a traced XDP program passed after a
 * match, passing the filters, or handled by a task that carries a selected packet (stack.h: the carried skb
 * itself, or another one, EV_BY_STACK, which skb tracking then follows). */
static __always_inline int skb_selected_how(struct sk_buff *skb, struct seen *s, __u64 stack)
{
	if (CFG_TRACK_SKB && is_tracked(s->addr)) {
		s->flags |= EV_TRACKED;
		return 1;
	}
	if (CFG_XDP_FOLLOW) {
		__u64 head = (__u64)BPF_CORE_READ(skb, head);

		if (bpf_map_lookup_elem(&XDP_HEADS, &head)) {
			bpf_map_delete_elem(&XDP_HEADS, &head);
			s->flags |= EV_TRACKED;
			if (CFG_TRACK_SKB)
				track(s->addr);
			return 1;
		}
	}
	__u64 carried = CFG_TRACK_STACK ? stack_carried(stack) : 0;

	if (carried && carried == s->addr)
		return 1;
	if (skb_passes(skb, s))
		return 1;
	if (!carried)
		return 0;
	s->flags |= EV_BY_STACK;
	if (CFG_TRACK_SKB)
		track(s->addr);
	return 1;
}

/* skb_selected_how(), and a selected skb is what the current task carries from here on. */
static __always_inline int skb_selected(struct sk_buff *skb, struct seen *s)
{
	__u64 stack = CFG_TRACK_STACK ? stack_id() : 0;

	if (!skb_selected_how(skb, s, stack))
		return 0;
	if (CFG_TRACK_STACK)
		stack_carry(stack, s->addr);
	return 1;
}

/* ---- XDP: the packet is xdp->data .. xdp->data_end, an Ethernet frame ---- */

static __always_inline void seen_xdp(struct xdp_buff *x, struct seen *s)
{
	struct net_device *dev = BPF_CORE_READ(x, rxq, dev);

	s->addr = (__u64)x;
	s->dev = dev;
	s->netns = dev ? BPF_CORE_READ(dev, nd_net.net, ns.inum) : 0;
	s->mark = 0; /* an XDP buffer has no mark */
	s->ifindex = dev ? BPF_CORE_READ(dev, ifindex) : 0;
	s->flags = 0;
}

static __always_inline struct pkt_span xdp_span(struct xdp_buff *x)
{
	unsigned char *data = BPF_CORE_READ(x, data);
	unsigned char *end = BPF_CORE_READ(x, data_end);
	struct pkt_span p = {
		.start = data,
		.wire = end > data ? end - data : 0,
		.l3 = 0,
	};

	p.linear = p.wire;
	return p;
}

/* XDP buffers are not followed by skb tracking: they live on the driver's stack, their addresses repeat. */
static __always_inline int xdp_selected(struct xdp_buff *x, struct seen *s)
{
	if (!meta_passes(s))
		return 0;
	if (HAVE_XDP_EXPR && !xdp_filter(x))
		return 0;
	if (HAVE_FILTER && !run_filter_on(xdp_span(x)))
		return 0;
	return 1;
}

/* ---- the event ---- */

/* The fields every event has; the packet's own (len, protocol, tuple) are filled by the caller. */
static __always_inline void fill_common(struct event *e, void *ctx, struct seen *s, struct probe *p)
{
	struct net_device *dev = s->dev; /* a local, as in seen_skb() */

	__builtin_memset(e, 0, sizeof(*e));
	e->head.size = sizeof(*e);
	e->head.rtype = REC_EVENT;
	e->ts_ns = bpf_ktime_get_ns();
	e->skb = s->addr;
	e->func_ip = p->func_ip;
	e->probe_id = p->probe_id;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->cpu = bpf_get_smp_processor_id();
	e->netns = s->netns;
	e->mark = s->mark;
	e->ifindex = s->ifindex;
	e->mtu = dev ? BPF_CORE_READ(dev, mtu) : 0;
	e->kind = p->kind;
	e->flags = s->flags | p->flags;
	if (p->has_caller) {
		e->caller_ip = p->caller;
		e->flags |= EV_HAS_CALLER;
	}
	if (p->has_reason) {
		e->drop_reason = p->reason;
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
}

static __always_inline void fill_skb(struct event *e, struct sk_buff *skb)
{
	e->len = BPF_CORE_READ(skb, len);
	e->protocol = BPF_CORE_READ(skb, protocol);
	e->pkt_type = BPF_CORE_READ_BITFIELD_PROBED(skb, pkt_type);
	parse_tuple(e, skb);
}

static __always_inline void fill_xdp(struct event *e, struct xdp_buff *x)
{
	struct pkt_span p = xdp_span(x);
	unsigned char *l3;

	e->len = p.wire;
	if (p.wire >= 14) {
		bpf_probe_read_kernel(&e->protocol, 2, p.start + 12);
		l3 = l3_behind_eth(p.start);
		if (l3)
			parse_l3(e, l3);
	}
}

/* Starts a section of `kind` with `len` payload bytes at tail offset *off (8-byte aligned) of r and returns its
 * payload; *off moves past it, padding included (zeroed here, the payload is the caller's). The offsets are
 * constants on every path the verifier walks (load-time configuration and each program's own flags). */
static __always_inline void *section(struct record_buf *r, __u32 *off, __u16 kind, __u16 flags, __u32 len)
{
	__u32 at = *off;
	struct section_head *h = (void *)(r->tail + at);
	__u32 end = (at + sizeof(*h) + len + 7) & ~7u;

	h->kind = kind;
	h->flags = flags;
	h->len = len;
	if (end > at + sizeof(*h) + len)
		*(__u64 *)(r->tail + end - 8) = 0; /* the padding (and payload bytes the caller then writes) */
	*off = end;
	r->event.head.size += end - at;
	r->event.head.nsections++;
	r->event.head.sections |= 1u << kind;
	return h + 1;
}

/* The SEC_PACKET section: up to CFG_SNAPLEN bytes of p. Last, as its length varies. */
static __always_inline void add_packet(struct record_buf *r, __u32 off, struct pkt_span p)
{
	struct section_head *h = (void *)(r->tail + off);
	struct section_packet *pk = (void *)(h + 1);
	__u64 cap = read_packet(pk + 1, &p, CFG_SNAPLEN, SNAPLEN_MAX);
	h->kind = SEC_PACKET;
	h->flags = 0;
	h->len = sizeof(*pk) + cap;
	pk->orig_len = p.wire;
	pk->cap_len = cap;
	pk->start = p.l3 ? PKT_START_L3 : PKT_START_L2;
	pk->_pad = 0;
	r->event.head.size += sizeof(*h) + sizeof(*pk) + cap;
	r->event.head.nsections++;
	r->event.head.sections |= 1u << SEC_PACKET;
}

/* ---- the BTF dumps of an skb event (issue 11), after the packet's, at the record's next 8-byte boundary (their text
 * has a variable length, so they come last). Each may start no later than its *_MAX offset, a constant the verifier
 * checks what the section writes against. The values (skb and XDP events) come before the packet, at a constant
 * offset: see emit(). ---- */
#define DUMP_OFF_MAX (__builtin_offsetof(struct record_buf, btf) + sizeof(struct section_head) + BTF_AREA_MAX)
#define DUMP2_OFF_MAX (DUMP_OFF_MAX + sizeof(struct section_head) + sizeof(struct section_dump) + DUMP_BUF_MAX)
_Static_assert(DUMP_OFF_MAX % 8 == 0 && DUMP2_OFF_MAX % 8 == 0, "8-byte aligned");
_Static_assert(DUMP2_OFF_MAX + sizeof(struct section_head) + sizeof(struct section_dump) + DUMP_BUF_MAX ==
		       sizeof(struct record_buf), "record_buf holds every section at its largest");
_Static_assert(__builtin_offsetof(struct record_buf, tail) + 4 * sizeof(struct section_head) +
			       sizeof(struct section_verdict) + sizeof(struct section_map_op) + BTF_AREA_MAX +
			       sizeof(struct section_packet) + SNAPLEN_MAX <=
		       sizeof(struct record_buf), "record_buf holds an XDP event's sections at their largest");
/* The skb values before the packet move it by at most their section: both dumps still fit behind it. */
_Static_assert(__builtin_offsetof(struct record_buf, tail) + SECTIONS_FIXED_MAX + sizeof(struct section_head) +
			       BTF_AREA_MAX + SNAPLEN_MAX <=
		       DUMP_OFF_MAX, "an skb event's dumps start no later than DUMP_OFF_MAX");

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

/* The BTF dumps of an skb event (its values went before the packet: emit()). */
static __always_inline void add_btf_dumps(struct record_buf *r, struct sk_buff *skb)
{
	if (CFG_DUMP_SKB)
		add_btf_dump(r, skb, CFG_SKB_BTF_ID, DUMP_SKB, DUMP_OFF_MAX);
	if (CFG_DUMP_SHINFO) {
		unsigned char *head = BPF_CORE_READ(skb, head);
		__u32 end = BPF_CORE_READ(skb, end);

		add_btf_dump(r, head + end, CFG_SHINFO_BTF_ID, DUMP_SHINFO, DUMP2_OFF_MAX);
	}
}

/* The ring's notification for a record of `len` bytes (its ring header included), `before` bytes having been
 * waiting for the reader before it. A summary-only run ships only packets' first drops, and pwru drains the ring on
 * its 1 s tick anyway: waking it for each drop cost a wakeup per drop (measured: 3.9 -> 0.2 µs per event at 1000
 * pps, pwru and programs together; docs/drops.md). So there the record that fills the ring past a quarter wakes
 * the reader, once; past half (a crossing missed by racing CPUs, a reader not keeping up) every record does, as
 * without a summary. Others wake nobody. */
static __always_inline __u64 ring_wakeup(__u64 before, __u64 len)
{
	if (!CFG_SUMMARY)
		return 0;
	__u64 size = bpf_ringbuf_query(&EVENTS, BPF_RB_RING_SIZE);

	if (before >= size / 2 || (before < size / 4 && before + len >= size / 4))
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* What a record of `size` bytes takes in the ring: the kernel's 8-byte header, rounded up to 8 bytes. */
#define RING_LEN(size) ((((__u64)(size)) + 8 + 7) & ~7ull)

/* One event for the packet at `pkt` (an sk_buff, or an xdp_buff with `xdp`), which the filters already selected.
 * Without sections the fixed-size record is reserved in the ring and written in place. With sections its size is
 * known only at the end (bpf_ringbuf_reserve needs a constant): it is built in the per-CPU buffer and then exactly
 * its size is copied into the ring. The configuration is constant at load time and `xdp` and p->has_verdict are
 * constant per program, so the verifier keeps one path. */
static __always_inline void emit(void *ctx, void *pkt, int xdp, struct seen *s, struct probe *p)
{
	int cb = !xdp && CFG_SKB_CB;
	int tunnel = !xdp && CFG_TUNNEL;
	int btf = xdp ? CFG_XDP_META_SIZE != 0 : CFG_META_SIZE || CFG_DUMP_SKB || CFG_DUMP_SHINFO;
	int sections = CFG_SNAPLEN || cb || tunnel || btf || p->has_verdict || p->has_map_op;
	struct record_buf *r = 0;
	struct event *e;

	count(CNT_PRODUCED);
	if (sections) {
		__u32 zero = 0;

		r = bpf_map_lookup_elem(&RECORD_BUF, &zero);
		e = r ? &r->event : 0;
	} else {
		e = bpf_ringbuf_reserve(&EVENTS, sizeof(*e), 0);
	}
	if (!e) {
		count(CNT_LOST);
		return;
	}
	fill_common(e, ctx, s, p);
	if (xdp)
		fill_xdp(e, pkt);
	else
		fill_skb(e, pkt);
	if (!r) {
		/* reserved: the ring's data already counts this record */
		__u64 with = CFG_SUMMARY ? bpf_ringbuf_query(&EVENTS, BPF_RB_AVAIL_DATA) : 0;
		__u64 len = RING_LEN(sizeof(*e));

		bpf_ringbuf_submit(e, ring_wakeup(with > len ? with - len : 0, len));
		return;
	}
	__u32 off = 0;

	if (p->has_verdict) {
		struct section_verdict *v = section(r, &off, SEC_VERDICT, 0, sizeof(*v));

		v->retval = p->retval;
		v->_pad = 0;
	}
	if (cb) {
		struct section_skb_cb *c = section(r, &off, SEC_SKB_CB, 0, sizeof(*c));
		struct sk_buff *skb = pkt;

		if (bpf_probe_read_kernel(c->cb, sizeof(c->cb),
					  (void *)skb->cb + bpf_core_field_offset(struct qdisc_skb_cb, data)))
			__builtin_memset(c->cb, 0, sizeof(c->cb));
	}
	if (tunnel) {
		struct tunnel_at t;

		if (find_tunnel(pkt, &t))
			tunnel_tuple(&t, section(r, &off, SEC_TUNNEL, 0, sizeof(struct section_tunnel)));
	}
	if (p->has_map_op) {
		__u32 zero = 0;
		struct map_op_pending *m = bpf_map_lookup_elem(&MAP_OP, &zero);
		struct section_map_op *o = section(r, &off, SEC_MAP_OP, 0, sizeof(*o));

		if (m)
			__builtin_memcpy(o, &m->op, sizeof(*o));
		else
			__builtin_memset(o, 0, sizeof(*o));
	}
	/* The values have a constant size, so they go before the packet, at a constant offset: behind the packet's
	 * variable length, Linux 6.1's verifier cannot bound the padding before them (it learns nothing from
	 * comparing two registers; the skb values passed there only by how clang happened to allocate registers). */
	if (btf && xdp)
		xdp_fetch(pkt, section(r, &off, SEC_BTF_VALUES, SECF_XDP, CFG_XDP_META_SIZE));
	else if (!xdp && CFG_META_SIZE)
		btf_fetch(pkt, section(r, &off, SEC_BTF_VALUES, 0, CFG_META_SIZE));
	if (CFG_SNAPLEN)
		add_packet(r, off, xdp ? xdp_span(pkt) : packet_span(pkt));
	if (btf && !xdp)
		add_btf_dumps(r, pkt);
	__u64 size = r->event.head.size;

	if (size > sizeof(*r))
		size = sizeof(*r);
	__u64 before = CFG_SUMMARY ? bpf_ringbuf_query(&EVENTS, BPF_RB_AVAIL_DATA) : 0;

	if (bpf_ringbuf_output(&EVENTS, r, size, ring_wakeup(before, RING_LEN(size))))
		count(CNT_LOST);
}

/* ---- the in-kernel summary: fate.rs's rules on the roles userspace computed from them ---- */

/* fate.rs's HANDOFF_RX_GAP_NS */
#define SUM_HANDOFF_GAP_NS 1000000ull

static __always_inline int sum_consumed(__u32 reason)
{
	__u32 r = reason;

	if (r >= CONSUMED_CODES)
		return 0;
	/* The mask bounds the index for the verifier: clang would test one copy of r and index with another. The
	 * empty asm keeps clang from dropping the mask as redundant. */
	asm volatile("" : "+r"(r));
	r &= CONSUMED_CODES - 1;
	return (CFG_CONSUMED[r / 64] >> (r % 64)) & 1;
}

/* fate::same_packet() for a live packet whose latest event is `last`; interfaces are compared by ifindex. */
static __always_inline int sum_same_live(struct sum_path *last, __u32 roles, __u64 now, struct seen *s)
{
	int tx = roles & ROLE_STARTS_TX;
	int rx = roles & ROLE_STARTS_RX;
	__u64 gap = now > last->ts ? now - last->ts : 0;

	if ((tx || rx) && (last->roles & ROLE_SOCKET))
		return 0;
	if (tx && (last->roles & (ROLE_RECEIVE | ROLE_STARTS_RX))) {
		int other_netns = last->netns && s->netns && last->netns != s->netns;

		if (other_netns || (roles & ROLE_LOCAL_OUT) || gap > SUM_HANDOFF_GAP_NS)
			return 0;
	}
	int restart = tx || (rx && gap > SUM_HANDOFF_GAP_NS);

	return !((last->roles & ROLE_HANDOFF) && restart && last->ifindex == s->ifindex);
}

/* Counts a selected event into SUM_FUNCS and its packet into SUM_PATHS; true when it is its packet's first drop,
 * the only events a summary-only run ships. The index is the target's: the probe id of a kprobe cookie or of a
 * tracepoint (the loader turns the summary off where kprobes have no cookie). */
static __always_inline int summarize(struct seen *s, struct probe *p)
{
	__u32 idx = p->probe_id + (p->kind == EV_KIND_TRACEPOINT ? CFG_SUM_TP_BASE : 0);
	__u32 *r = bpf_map_lookup_elem(&SUM_ROLES, &idx);
	__u64 *n = bpf_map_lookup_elem(&SUM_FUNCS, &idx);
	__u32 roles = r ? *r : 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 addr = s->addr;
	struct sum_path *path = bpf_map_lookup_elem(&SUM_PATHS, &addr);

	if (n)
		*n += 1;
	if (path) {
		int same = path->life == LIFE_LIVE ? sum_same_live(path, roles, now, s)
						   : (roles & ROLE_RELEASE_STEP) != 0;

		if (!same)
			path = 0;
	}
	if (!path) {
		struct sum_path fresh = {};

		count(CNT_PACKETS);
		if (!bpf_map_update_elem(&SUM_PATHS, &addr, &fresh, BPF_ANY))
			path = bpf_map_lookup_elem(&SUM_PATHS, &addr);
		if (!path)
			count(CNT_PATHS_FULL);
	}
	/* fate::classify()'s drops */
	int drop = p->has_reason ? !sum_consumed(p->reason) && (roles & (ROLE_DROP | ROLE_REASONED_FREE))
				 : (roles & ROLE_DROP) != 0;
	int ship = drop && !(path && path->dropped);

	if (!path)
		return ship;
	if (roles & ROLE_FREES) {
		bpf_map_delete_elem(&SUM_PATHS, &addr);
		return ship;
	}
	if (path->life == LIFE_LIVE && (roles & ROLE_STARTS_RELEASE))
		path->life = LIFE_RELEASING;
	path->dropped |= drop;
	path->ts = now;
	path->netns = s->netns;
	path->ifindex = s->ifindex;
	path->roles = roles;
	return ship;
}

/* An skb probe: the filters, then the event (in a summary-only run, the count, and the event if it is a drop). */
static __always_inline int handle_probe(void *ctx, struct sk_buff *skb, struct probe *p)
{
	struct seen s;

	if (!skb || is_own_netlink(skb))
		return 0;
	seen_skb(skb, &s);
	if (!skb_selected(skb, &s))
		return 0;
	if (CFG_SUMMARY && !summarize(&s, p)) {
		count(CNT_PRODUCED);
		count(CNT_SUMMED);
		return 0;
	}
	emit(ctx, skb, 0, &s, p);
	return 0;
}

/* A --filter-non-skb-funcs function: an event for the skb the current task carries, if it carries one. */
static __always_inline int handle_by_stack(void *ctx, __u64 func_ip)
{
	struct probe p = { .func_ip = func_ip, .kind = EV_KIND_KPROBE };
	struct sk_buff *skb = (struct sk_buff *)stack_carried(stack_id());
	struct seen s;

	if (!skb)
		return 0;
	seen_skb(skb, &s);
	s.flags |= EV_BY_STACK;
	emit(ctx, skb, 0, &s, &p);
	return 0;
}

/* The kprobe and tracepoint programs' entry into handle_probe(). */
static __always_inline int handle(void *ctx, struct sk_buff *skb, __u64 func_ip, __u64 caller, int has_caller,
				  __u32 probe_id, __u8 kind, int has_reason, __u32 reason)
{
	struct probe p = {
		.func_ip = func_ip,
		.caller = caller,
		.probe_id = probe_id,
		.reason = reason,
		.kind = kind,
		.has_caller = has_caller,
		.has_reason = has_reason,
	};

	return handle_probe(ctx, skb, &p);
}

#endif
