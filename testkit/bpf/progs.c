// SPDX-License-Identifier: GPL-2.0
/* tc and XDP programs for the tests of --filter-trace-tc/--filter-trace-xdp, in the roles of Cilium's datapath:
 * with BTF (clang -g), names longer than the kernel's 15 characters, a drop, a tail call, an XDP rewrite.
 * Loaded with `bpftool prog loadall` (pinned by name) and attached with tc / ip link (tests/vm/guest/scen-tc.sh).
 *   pwru_test_pass_egress       tc: TC_ACT_OK
 *   pwru_test_drop_udp_ingress  tc: UDP to port 7001 -> TC_ACT_SHOT, else TC_ACT_UNSPEC (the next filter runs)
 *   pwru_test_tail_entry        tc: tail-calls pwru_test_jmp[0]; TC_ACT_OK if the slot is empty
 *   pwru_test_tail_callee       tc: reads the UDP port with bpf_skb_load_bytes(); 7002 -> TC_ACT_SHOT, else OK
 *   pwru_test_xdp_udp           xdp: UDP to 7003 -> XDP_DROP; to 7004 -> rewritten to 7005, XDP_PASS; else PASS
 * late.c holds the program loaded after the tracer started. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} pwru_test_jmp SEC(".maps");

/* The UDP header of an IPv4 packet without options between data and end, or 0. */
static __always_inline struct udphdr *udp_of(void *data, void *end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);

	if ((void *)(udp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_UDP)
		return 0;
	return udp;
}

SEC("tc")
int pwru_test_pass_egress(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("tc")
int pwru_test_drop_udp_ingress(struct __sk_buff *skb)
{
	struct udphdr *udp = udp_of((void *)(long)skb->data, (void *)(long)skb->data_end);

	if (udp && udp->dest == bpf_htons(7001))
		return TC_ACT_SHOT;
	return TC_ACT_UNSPEC;
}

SEC("tc")
int pwru_test_tail_entry(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &pwru_test_jmp, 0);
	return TC_ACT_OK;
}

SEC("tc")
int pwru_test_tail_callee(struct __sk_buff *skb)
{
	__be16 dport;

	if (bpf_skb_load_bytes(skb, ETH_HLEN + sizeof(struct iphdr) + 2, &dport, sizeof(dport)))
		return TC_ACT_OK;
	return dport == bpf_htons(7002) ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("xdp")
int pwru_test_xdp_udp(struct xdp_md *ctx)
{
	struct udphdr *udp = udp_of((void *)(long)ctx->data, (void *)(long)ctx->data_end);

	if (!udp)
		return XDP_PASS;
	if (udp->dest == bpf_htons(7003))
		return XDP_DROP;
	if (udp->dest == bpf_htons(7004)) {
		udp->dest = bpf_htons(7005);
		udp->check = 0; /* IPv4: no checksum */
	}
	return XDP_PASS;
}
