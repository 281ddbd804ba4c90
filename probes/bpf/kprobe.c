/* SPDX-License-Identifier: GPL-2.0 */
/* kprobe and kprobe-multi programs, the skb-tracking bookkeeping on kfree_skbmem and skb_clone/skb_copy, and the
 * --filter-non-skb-funcs program.
 * Positions are counted from 0 (probes/src/variant.rs lists the variants the loader uses). */

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

KPROBE_SKB(0)
KPROBE_SKB(1)
KPROBE_SKB(2)
KPROBE_SKB(3)
KPROBE_SKB(4)

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

KPROBE_SKB_REASON(0, 1)
KPROBE_SKB_REASON(1, 2)

/* A load from the kprobe context at a constant offset, in asm: the verifier takes the context only at constant
 * offsets, and clang would turn a switch of plain loads into one load at a computed offset. */
#define CTX_LOAD(ctx, idx)                                                                             \
	({                                                                                             \
		__u64 __v;                                                                             \
		asm volatile("%0 = *(u64 *)(%1 + %2)" : "=r"(__v) : "r"(ctx), "i"((idx) * 8));         \
		__v;                                                                                   \
	})

/* kprobe argument `pos` (0-4) of a cookie. */
static __always_inline __u64 karg_at(void *ctx, __u64 pos)
{
	switch (pos) {
	case 0:
		return CTX_LOAD(ctx, REG_ARG0);
	case 1:
		return CTX_LOAD(ctx, REG_ARG1);
	case 2:
		return CTX_LOAD(ctx, REG_ARG2);
	case 3:
		return CTX_LOAD(ctx, REG_ARG3);
	case 4:
		return CTX_LOAD(ctx, REG_ARG4);
	}
	return 0;
}

/* One program for every function: the cookie (enum pwru_cookie) says where the skb and the reason are and which
 * target fired, so the filter is verified once, whatever the number of functions. */
static __always_inline int on_kprobe_cookie(void *ctx)
{
	__u64 c = bpf_get_attach_cookie(ctx);
	__u32 id = c >> COOKIE_ID_SHIFT;
	__u64 reason_at = (c >> COOKIE_REASON_SHIFT) & 0xff;
	__u64 func_ip = bpf_get_func_ip(ctx);
	int want_caller = CFG_CALLER != 0;
	__u64 caller = want_caller ? kprobe_caller(ctx) : 0;

	if (!func_ip) {
		__u64 *ip = bpf_map_lookup_elem(&FUNC_IPS, &id);

		if (ip)
			func_ip = *ip;
	}
	return handle(ctx, (struct sk_buff *)karg_at(ctx, (c >> COOKIE_SKB_SHIFT) & 0xff), func_ip, caller,
		      want_caller, id, EV_KIND_KPROBE, reason_at != 0, reason_at ? karg_at(ctx, reason_at - 1) : 0);
}

SEC("kprobe/cookie")
int kprobe_cookie(void *ctx)
{
	return on_kprobe_cookie(ctx);
}

SEC("kprobe/multi_cookie")
int kprobe_multi_cookie(void *ctx)
{
	return on_kprobe_cookie(ctx);
}

/* skb-tracking bookkeeping (kprobe backends only) */
SEC("kprobe/kfree_skbmem")
int kprobe_untrack(void *ctx)
{
	untrack(KARG(ctx, 0));
	return 0;
}

/* skb_clone/skb_copy entry: remember the source while the function runs, if it is tracked */
SEC("kprobe/skb_clone")
int kprobe_clone_entry(void *ctx)
{
	__u32 zero = 0;
	__u64 *src = bpf_map_lookup_elem(&CLONE_SRC, &zero);

	if (src)
		*src = is_tracked(KARG(ctx, 0)) ? KARG(ctx, 0) : 0;
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


/* --filter-non-skb-funcs: a function without an skb reports as the packet its task carries (stack.h). */
SEC("kprobe/non_skb")
int kprobe_non_skb(void *ctx)
{
	return handle_by_stack(ctx, bpf_get_func_ip(ctx));
}
