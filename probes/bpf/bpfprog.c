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

/* A BPF helper the traced programs call (--filter-track-bpf-helpers): an event for the packet of the innermost
 * traced program running on this CPU, if its entry matched. The caller address lies in the JITed code of the
 * program that made the call, which names it also when it was reached by a tail call (fentry does not see those). */
SEC("kprobe/bpf_helper")
int kprobe_bpf_helper(void *ctx)
{
	struct prog_stack *st = prog_stack();

	if (!st || st->busy)
		return 0;
	__u32 d = st->depth;

	if (d == 0 || d > PROG_DEPTH)
		return 0;
	struct prog_frame *f = &st->f[(d - 1) & (PROG_DEPTH - 1)];

	if (!f->matched)
		return 0;
	struct probe p = {
		.func_ip = bpf_get_func_ip(ctx),
		.caller = kprobe_caller(ctx),
		.probe_id = f->prog_id,
		.kind = EV_KIND_KPROBE,
		.flags = EV_IN_PROG,
		.has_caller = 1,
	};
	struct seen s;

	if (f->hook == HOOK_XDP) {
		struct xdp_buff *x = (struct xdp_buff *)f->ctx;

		seen_xdp(x, &s);
		emit(ctx, x, 1, &s, &p);
	} else {
		struct sk_buff *skb = (struct sk_buff *)f->ctx;

		seen_skb(skb, &s);
		emit(ctx, skb, 0, &s, &p);
	}
	return 0;
}

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
