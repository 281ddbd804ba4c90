/* SPDX-License-Identifier: GPL-2.0 */
/* The BTF-expression stubs (docs/btf-expr-abi.md): the loader replaces their instructions with the code btf-expr
 * generates for --filter-skb-expr and --output-skb-metadata (rooted at a struct sk_buff) and for --filter-xdp-expr
 * and --output-xdp-metadata (rooted at the struct xdp_buff of a traced XDP program). Like pcap_filter (filter.h),
 * each sits alone in its section and hides its arguments behind an asm statement, so clang keeps the call and its
 * arguments as they are. */
#ifndef PWRU_BTF_EXPR_H
#define PWRU_BTF_EXPR_H

/* 1 when the expression holds for the struct sk_buff at skb (a kernel pointer: only passed to helpers). */
static __attribute__((noinline, section(".text.btf_filter")))
int btf_filter(void *skb)
{
	int verdict;

	asm volatile("%0 = 1" : "=r"(verdict) : "r"(skb));
	return verdict;
}

/* Fills out (CFG_META_SIZE bytes, the layout of docs/btf-expr-abi.md) with the values of the expressions over the
 * struct sk_buff at skb; returns 0. */
static __attribute__((noinline, section(".text.btf_fetch")))
int btf_fetch(void *skb, void *out)
{
	int ret;

	asm volatile("%0 = 0" : "=r"(ret) : "r"(skb), "r"(out));
	return ret;
}

/* btf_filter() over the struct xdp_buff at xdp. */
static __attribute__((noinline, section(".text.xdp_filter")))
int xdp_filter(void *xdp)
{
	int verdict;

	asm volatile("%0 = 1" : "=r"(verdict) : "r"(xdp));
	return verdict;
}

/* btf_fetch() over the struct xdp_buff at xdp, into CFG_XDP_META_SIZE bytes. */
static __attribute__((noinline, section(".text.xdp_fetch")))
int xdp_fetch(void *xdp, void *out)
{
	int ret;

	asm volatile("%0 = 0" : "=r"(ret) : "r"(xdp), "r"(out));
	return ret;
}

#endif
