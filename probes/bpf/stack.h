/* SPDX-License-Identifier: GPL-2.0 */
/* Following a packet by the task that processes it (--filter-track-skb-by-stackid, --filter-non-skb-funcs).
 *
 * The task "carries" the last skb new to it that was selected while it ran. While it does, every other skb it handles is selected too
 * (EV_BY_STACK): the packet is followed where the kernel builds a new skb for it (a copy, a tunnel's rebuild, the
 * reply an echo builds while the request is still being processed), and a function without an skb that runs in
 * that task reports as the carried packet. The carry ends when the carried skb is freed (wherever that happens),
 * or moves when the skb is selected in another task.
 *
 * pwru names the stack by its outermost frame pointer; the task (bpf_get_current_task()) names the same chain of
 * calls for a packet's path: its kernel stack and the softirqs that run in it (from local_bh_enable(), or on the
 * interrupt stack above it). It works on every program type and on kernels built without frame pointers (x86's ORC
 * kernels, where a frame-pointer walk reads garbage). What it does not tell apart: a softirq that interrupts a task
 * carrying a packet sees that packet as carried. */
#ifndef PWRU_STACK_H
#define PWRU_STACK_H

/* task -> the skb it carries */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* the loader sets 1 when stack tracking is off */
	__type(key, __u64);
	__type(value, __u64);
} STACK_SKB SEC(".maps");

/* carried skb -> the task carrying it, so that its free or its move to another task ends the carry */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} SKB_STACK SEC(".maps");

static __always_inline __u64 stack_id(void)
{
	return bpf_get_current_task();
}

/* The skb the task `stack` carries, 0 for none. */
static __always_inline __u64 stack_carried(__u64 stack)
{
	__u64 *skb = bpf_map_lookup_elem(&STACK_SKB, &stack);

	return skb ? *skb : 0;
}

/* Ends the carry of skb by `stack` if that is the skb it carries. */
static __always_inline void stack_drop(__u64 stack, __u64 skb)
{
	__u64 *c = bpf_map_lookup_elem(&STACK_SKB, &stack);

	if (c && *c == skb)
		bpf_map_delete_elem(&STACK_SKB, &stack);
}

/* skb was selected in task `stack`. An skb new to the task is what it carries now (and no longer what another task
 * carries); one it saw before does not take the carry back from a newer one (the request's free after its reply was
 * built must leave the reply carried). */
static __always_inline void stack_carry(__u64 stack, __u64 skb)
{
	__u64 *old = bpf_map_lookup_elem(&SKB_STACK, &skb);

	if (old && *old == stack)
		return;
	if (old)
		stack_drop(*old, skb);
	if (bpf_map_update_elem(&STACK_SKB, &stack, &skb, BPF_ANY) ||
	    bpf_map_update_elem(&SKB_STACK, &skb, &stack, BPF_ANY))
		count(CNT_TRACK_FULL);
}

/* skb is being freed: nothing carries it any more. */
static __always_inline void stack_free(__u64 skb)
{
	__u64 *at = bpf_map_lookup_elem(&SKB_STACK, &skb);

	if (!at)
		return;
	stack_drop(*at, skb);
	bpf_map_delete_elem(&SKB_STACK, &skb);
}

/* skb is being freed: skb tracking and stack tracking forget it. */
static __always_inline void untrack(__u64 addr)
{
	if (CFG_TRACK_SKB)
		bpf_map_delete_elem(&TRACKED, &addr);
	if (CFG_TRACK_STACK)
		stack_free(addr);
}

#endif
