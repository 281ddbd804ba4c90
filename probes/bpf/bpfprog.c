/* SPDX-License-Identifier: GPL-2.0 */
/* Tracing tc and XDP programs (probes/src/progs/): an fentry and an fexit program per traced program, loaded with
 * attach_prog_fd and that program's id patched into the PROG_ID_MARKER instruction; the kprobe on the BPF helpers
 * the traced programs call; and the bpf_prog iterator that tells which traced programs only we still hold.
 *
 * The ctx of an fentry/fexit program on a BPF program is the traced program's arguments as u64s: its ctx (the
 * kernel's struct sk_buff for tc, struct xdp_buff for XDP), then, at fexit, its return value. */

_Static_assert(PROG_ID_MARKER == 0x7d7d7d7d, "the asm marker below must be PROG_ID_MARKER");

static __always_inline __u32 traced_prog_id(void)
{
	__u64 id;

	asm volatile("%0 = 0x7d7d7d7d" : "=r"(id));
	return id;
}

static __always_inline struct prog_stack *prog_stack(void)
{
	__u32 cpu = bpf_get_smp_processor_id();

	return bpf_map_lookup_elem(&PROG_STACK, &cpu);
}

static __always_inline void push_frame(struct prog_stack *st, __u64 pkt, __u32 id, __u8 hook, __u8 matched)
{
	__u32 d = st->depth;

	if (d < PROG_DEPTH) {
		struct prog_frame *f = &st->f[d & (PROG_DEPTH - 1)];

		f->ctx = pkt;
		f->prog_id = id;
		f->hook = hook;
		f->matched = matched;
	} else {
		count(CNT_PROG_DEEP);
	}
	st->depth = d + 1;
}

/* Pops the innermost frame; -1 when there is none for this packet (fentry was not attached yet, or the stack was
 * out of step and is reset), else whether its entry matched. */
static __always_inline int pop_frame(struct prog_stack *st, __u64 pkt)
{
	if (st->depth == 0)
		return -1;
	__u32 d = st->depth - 1;

	if (d >= PROG_DEPTH) {
		st->depth = d;
		return -1;
	}
	struct prog_frame *f = &st->f[d & (PROG_DEPTH - 1)];

	if (f->ctx != pkt) {
		st->depth = 0;
		return -1;
	}
	st->depth = d;
	return f->matched;
}

/* fentry (exit = 0) or fexit on a tc program. At fentry the event goes out before the frame is pushed, at fexit
 * after it is popped: the helper kprobe never sees our own calls as the traced program's. */
static __always_inline void on_tc(struct prog_stack *st, __u64 *ctx, int exit)
{
	struct sk_buff *skb = (struct sk_buff *)TPARG(ctx, 0);
	struct probe p = {
		.probe_id = traced_prog_id(),
		.kind = EV_KIND_TC,
	};
	struct seen s;
	int matched;

	if (!skb)
		return;
	seen_skb(skb, &s);
	if (!exit) {
		matched = skb_selected(skb, &s);
	} else {
		matched = pop_frame(st, (__u64)skb);
		if (matched < 0)
			matched = skb_selected(skb, &s);
		p.has_verdict = 1;
		p.retval = (__s32)TPARG(ctx, 1);
	}
	if (matched)
		emit(ctx, skb, 0, &s, &p);
	if (!exit)
		push_frame(st, (__u64)skb, p.probe_id, HOOK_TC, matched);
}

static __always_inline void on_xdp(struct prog_stack *st, __u64 *ctx, int exit)
{
	struct xdp_buff *x = (struct xdp_buff *)TPARG(ctx, 0);
	struct probe p = {
		.probe_id = traced_prog_id(),
		.kind = EV_KIND_XDP,
	};
	struct seen s;
	int matched;

	if (!x)
		return;
	seen_xdp(x, &s);
	if (!exit) {
		matched = xdp_selected(x, &s);
	} else {
		matched = pop_frame(st, (__u64)x);
		if (matched < 0)
			matched = xdp_selected(x, &s);
		p.has_verdict = 1;
		p.retval = (__s32)TPARG(ctx, 1);
		if (matched && CFG_XDP_FOLLOW && p.retval == 2 /* XDP_PASS */) {
			__u64 head = (__u64)BPF_CORE_READ(x, data_hard_start);
			__u8 one = 1;

			bpf_map_update_elem(&XDP_HEADS, &head, &one, BPF_ANY);
		}
	}
	if (matched)
		emit(ctx, x, 1, &s, &p);
	if (!exit)
		push_frame(st, (__u64)x, p.probe_id, HOOK_XDP, matched);
}

/* Marks this CPU busy with our own code around fn (see PROG_STACK). */
#define AS_OURS(fn, ctx, exit)                                  \
	do {                                                    \
		struct prog_stack *st = prog_stack();           \
		if (!st)                                        \
			return 0;                               \
		st->busy = 1;                                   \
		fn(st, ctx, exit);                              \
		st->busy = 0;                                   \
		return 0;                                       \
	} while (0)

/* The section names only tell aya-obj the program type: the loader sets the target per load. */
SEC("fentry/tc")
int fentry_tc(__u64 *ctx) { AS_OURS(on_tc, ctx, 0); }

SEC("fexit/tc")
int fexit_tc(__u64 *ctx) { AS_OURS(on_tc, ctx, 1); }

SEC("fentry/xdp")
int fentry_xdp(__u64 *ctx) { AS_OURS(on_xdp, ctx, 0); }

SEC("fexit/xdp")
int fexit_xdp(__u64 *ctx) { AS_OURS(on_xdp, ctx, 1); }

/* The innermost traced program running on this CPU, if its entry matched and none of our fentry/fexit programs is
 * running (their own map lookups and helper calls are not the traced program's). */
static __always_inline struct prog_frame *matched_frame(void)
{
	struct prog_stack *st = prog_stack();

	if (!st || st->busy)
		return 0;
	__u32 d = st->depth;

	if (d == 0 || d > PROG_DEPTH)
		return 0;
	struct prog_frame *f = &st->f[(d - 1) & (PROG_DEPTH - 1)];

	return f->matched ? f : 0;
}

/* An event for frame f's packet, from a kprobe inside the traced program (a helper call or a map operation). */
static __always_inline void emit_in_prog(void *ctx, struct prog_frame *f, struct probe *p)
{
	struct seen s;

	p->probe_id = f->prog_id;
	p->kind = EV_KIND_KPROBE;
	p->flags = EV_IN_PROG;
	if (f->hook == HOOK_XDP) {
		struct xdp_buff *x = (struct xdp_buff *)f->ctx;

		seen_xdp(x, &s);
		emit(ctx, x, 1, &s, p);
	} else {
		struct sk_buff *skb = (struct sk_buff *)f->ctx;

		seen_skb(skb, &s);
		emit(ctx, skb, 0, &s, p);
	}
}

/* A BPF helper the traced programs call (--filter-track-bpf-helpers): an event for the packet of the innermost
 * traced program running on this CPU, if its entry matched. The caller address lies in the JITed code of the
 * program that made the call, which names it also when it was reached by a tail call (fentry does not see those). */
SEC("kprobe/bpf_helper")
int kprobe_bpf_helper(void *ctx)
{
	struct prog_frame *f = matched_frame();
	struct probe p = {
		.func_ip = bpf_get_func_ip(ctx),
		.caller = kprobe_caller(ctx),
		.has_caller = 1,
	};

	if (f)
		emit_in_prog(ctx, f, &p);
	return 0;
}

/* ---- --output-bpfmap: the map operations of traced programs ----
 * The verifier turns a program's bpf_map_*_elem() calls into direct calls of the map type's operation (and a hash
 * lookup into a call of __htab_map_lookup_elem around inlined code); the loader puts these kprobes on those the
 * traced programs call (probes/src/progs/helpers.rs). The map is the first argument, the key the second, an
 * update's value the third; a lookup's value is what it returns, read by the kretprobe. Lookups inlined whole
 * (arrays) are no calls and are not seen. */

struct bpf_map___op {
	enum bpf_map_type map_type; /* an enum, as in the kernel: CO-RE does not match an int to it */
	__u32 key_size;
	__u32 value_size;
	__u32 id;
	char name[16];
} __core;

/* A lookup whose return is older than this was missed (kretprobe instances ran out): start over. */
#define MAPOP_STALE_NS 100000000ull

static __always_inline struct map_op_pending *map_op_pending(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&MAP_OP, &zero);
}

/* Fills m->op from the map and key of this kprobe; 0 when the map is one of ours. */
static __always_inline int map_op_begin(void *ctx, struct map_op_pending *m, __u8 op)
{
	struct bpf_map___op *map = (void *)KARG(ctx, 0);
	struct section_map_op *o = &m->op;
	__u32 id = BPF_CORE_READ(map, id);

	if (bpf_map_lookup_elem(&OWN_MAPS, &id))
		return 0;
	__builtin_memset(o, 0, sizeof(*o));
	o->map_id = id;
	o->map_type = BPF_CORE_READ(map, map_type);
	o->key_size = BPF_CORE_READ(map, key_size);
	o->value_size = BPF_CORE_READ(map, value_size);
	BPF_CORE_READ_STR_INTO(&o->name, map, name);
	o->op = op;

	__u32 klen = o->key_size < MAPOP_KEY_MAX ? o->key_size : MAPOP_KEY_MAX;

	if (klen && klen <= MAPOP_KEY_MAX && bpf_probe_read_kernel(o->data, klen, (void *)KARG(ctx, 1)))
		klen = 0;
	o->key_len = klen;
	return 1;
}

/* Appends the value at src (value_size bytes, at most MAPOP_VALUE_MAX) after the key. */
static __always_inline void map_op_value(struct section_map_op *o, void *src)
{
	__u32 klen = o->key_len;
	__u32 vlen = o->value_size < MAPOP_VALUE_MAX ? o->value_size : MAPOP_VALUE_MAX;

	if (klen > MAPOP_KEY_MAX || !vlen || vlen > MAPOP_VALUE_MAX)
		return;
	if (bpf_probe_read_kernel(o->data + klen, vlen, src))
		return;
	o->value_len = vlen;
	o->flags |= MAPF_VALUE;
}

static __always_inline void map_op_send(void *ctx, struct prog_frame *f, __u64 func_ip)
{
	struct probe p = {
		.func_ip = func_ip,
		.has_map_op = 1,
	};

	emit_in_prog(ctx, f, &p);
}

SEC("kprobe/map_lookup")
int kprobe_map_lookup(void *ctx)
{
	struct map_op_pending *m = map_op_pending();
	__u64 now = bpf_ktime_get_ns();

	if (!m)
		return 0;
	if (m->depth && now - m->ts > MAPOP_STALE_NS)
		m->depth = 0;
	if (m->depth++)
		return 0; /* inside an outer lookup: that one is reported */
	m->ts = now;
	m->func_ip = bpf_get_func_ip(ctx);
	m->armed = matched_frame() && map_op_begin(ctx, m, MAPOP_LOOKUP);
	return 0;
}

/* The lookup's return; `elem`: the function returns the hash element (__htab_map_lookup_elem), not the value. */
static __always_inline int map_lookup_return(void *ctx, int elem)
{
	struct map_op_pending *m = map_op_pending();

	if (!m || !m->depth || --m->depth || !m->armed)
		return 0;
	m->armed = 0;

	struct prog_frame *f = matched_frame();
	__u64 ret = REG(ctx, REG_RET);
	struct section_map_op *o = &m->op;

	if (!f)
		return 0;
	if (ret && ret < (__u64)-4095) { /* neither NULL nor an error pointer */
		o->flags |= MAPF_HIT;
		if (!elem)
			map_op_value(o, (void *)ret);
		else if (CFG_HTAB_KEY_OFF && o->map_type != BPF_MAP_TYPE_PERCPU_HASH &&
			 o->map_type != BPF_MAP_TYPE_LRU_PERCPU_HASH)
			/* the value follows the key, 8-aligned (per-CPU hashes keep a pointer there) */
			map_op_value(o, (void *)(ret + CFG_HTAB_KEY_OFF + ((o->key_size + 7) & ~7u)));
	}
	map_op_send(ctx, f, m->func_ip);
	return 0;
}

SEC("kretprobe/map_lookup")
int kretprobe_map_lookup(void *ctx) { return map_lookup_return(ctx, 0); }

SEC("kretprobe/map_lookup_elem")
int kretprobe_map_lookup_elem(void *ctx) { return map_lookup_return(ctx, 1); }

/* Updates and deletes are reported at their entry (a lookup in flight keeps its own record: they never run inside
 * one). */
static __always_inline int map_write(void *ctx, __u8 op)
{
	struct map_op_pending *m = map_op_pending();
	struct prog_frame *f = matched_frame();

	if (!m || !f)
		return 0;
	if (m->depth && bpf_ktime_get_ns() - m->ts > MAPOP_STALE_NS)
		m->depth = 0;
	if (m->depth || !map_op_begin(ctx, m, op))
		return 0;
	if (op == MAPOP_UPDATE)
		map_op_value(&m->op, (void *)KARG(ctx, 2));
	map_op_send(ctx, f, bpf_get_func_ip(ctx));
	return 0;
}

SEC("kprobe/map_update")
int kprobe_map_update(void *ctx) { return map_write(ctx, MAPOP_UPDATE); }

SEC("kprobe/map_delete")
int kprobe_map_delete(void *ctx) { return map_write(ctx, MAPOP_DELETE); }

/* One struct prog_ref per BPF program. A traced program whose count is down to the references our links and
 * this iterator hold has been detached and closed by its owner: the loader lets it go. */
SEC("iter/bpf_prog")
int iter_prog_refs(struct bpf_iter__bpf_prog *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct bpf_prog *prog = ctx->prog;

	if (!prog)
		return 0;
	struct prog_ref r = {
		.id = BPF_CORE_READ(prog, aux, id),
		.prog_type = BPF_CORE_READ(prog, type),
		.refcnt = BPF_CORE_READ(prog, aux, refcnt.counter),
	};

	bpf_seq_write(seq, &r, sizeof(r));
	return 0;
}
