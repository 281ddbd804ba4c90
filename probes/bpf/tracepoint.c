/* SPDX-License-Identifier: GPL-2.0 */
/* tp_btf and raw_tp programs: one per skb argument position (counted from 0), loaded once per tracepoint. */

/* The marker instruction's immediate is written out in the asm below: keep it equal to TP_ID_MARKER
 * (contract.h), which the loader looks for. */
_Static_assert(TP_ID_MARKER == 0x7e7e7e7e, "the asm marker below must be TP_ID_MARKER");

static __always_inline int on_tracepoint(void *ctx, __u64 skb, int has_reason, __u32 reason, __u64 caller)
{
	__u64 id;

	asm volatile("%0 = 0x7e7e7e7e" : "=r"(id));
	handle(ctx, (struct sk_buff *)skb, 0, caller, caller != 0, id & ~TP_ID_UNTRACK & 0xffffffff,
	       EV_KIND_TRACEPOINT, has_reason, reason);
	if (id & TP_ID_UNTRACK)
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


/* Tracepoint argument `pos` of a raw_tp context. Read with a helper: a direct read past a tracepoint's arguments
 * would make the kernel refuse to attach the program to any tracepoint with fewer. */
static __always_inline __u64 tparg_at(void *ctx, __u64 pos)
{
	__u64 v = 0;

	if (pos < 5)
		bpf_probe_read_kernel(&v, sizeof(v), (__u64 *)ctx + pos);
	return v;
}

/* One raw_tp program for every tracepoint (kernel 6.10+: raw_tp cookies); the cookie is enum pwru_cookie. */
SEC("raw_tp/cookie")
int raw_tp_cookie(void *ctx)
{
	__u64 c = bpf_get_attach_cookie(ctx);
	__u64 skb = tparg_at(ctx, (c >> COOKIE_SKB_SHIFT) & 0xff);
	__u64 reason_at = (c >> COOKIE_REASON_SHIFT) & 0xff;
	__u64 caller_at = (c >> COOKIE_CALLER_SHIFT) & 0xff;
	__u64 caller = caller_at ? tparg_at(ctx, caller_at - 1) : 0;

	handle(ctx, (struct sk_buff *)skb, 0, caller, caller != 0, c >> COOKIE_ID_SHIFT, EV_KIND_TRACEPOINT,
	       reason_at != 0, reason_at ? tparg_at(ctx, reason_at - 1) : 0);
	if (c & COOKIE_UNTRACK)
		untrack(skb);
	return 0;
}
