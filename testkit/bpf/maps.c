// SPDX-License-Identifier: GPL-2.0
/* The tc program the --output-bpfmap scenario traces (tests/vm/guest/scen-tc.sh, s_bpfmap): map operations as a
 * Cilium datapath does them per packet. For each UDP/IPv4 packet to a port in 7010..7019:
 *   pwru_test_hash     (hash, key: an IPv4 address, value: a u64 counter) lookup of the destination (the test puts it
 *                      in: a hit, the counter incremented), then of the source (never there: a miss);
 *   cilium_ct4_global  (LRU hash with Cilium's CT layout: the 14-byte struct ipv4_ct_tuple key, the 56-byte struct
 *                      ct_entry value) lookup of the packet's OUT tuple; on a miss an update creates the entry (RevNAT
 *                      7, source identity 2); to port 7011 a delete removes it again.
 * Always TC_ACT_OK. */
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
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} pwru_test_hash SEC(".maps");

/* Cilium's conntrack key (bpf/lib/common.h): for an OUT entry the packet's source is in `daddr` and its source
 * port in `sport`, the way Cilium stores it. */
struct ipv4_ct_tuple {
	__be32 daddr;
	__be32 saddr;
	__be16 dport;
	__be16 sport;
	__u8 nexthdr;
	__u8 flags;
} __attribute__((packed));

/* Cilium's struct ct_entry (56 bytes). */
struct ct_entry {
	__u64 reserved0;
	__u64 backend_id;
	__u64 packets;
	__u64 bytes;
	__u32 lifetime;
	__u16 flags;
	__be16 rev_nat_index;
	__u16 ifindex;
	__u8 tx_flags_seen;
	__u8 rx_flags_seen;
	__u32 src_sec_id;
	__u32 last_tx_report;
	__u32 last_rx_report;
};

_Static_assert(sizeof(struct ipv4_ct_tuple) == 14, "Cilium's IPv4 CT key is 14 bytes");
_Static_assert(sizeof(struct ct_entry) == 56, "Cilium's CT entry is 56 bytes");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 64);
	__type(key, struct ipv4_ct_tuple);
	__type(value, struct ct_entry);
} cilium_ct4_global SEC(".maps");

#define TUPLE_F_OUT 0

SEC("tc")
int pwru_test_maps(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);

	if ((void *)(udp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	__u16 dport = bpf_ntohs(udp->dest);

	if (dport < 7010 || dport > 7019)
		return TC_ACT_OK;

	__u32 daddr = ip->daddr, saddr = ip->saddr;
	__u64 *n = bpf_map_lookup_elem(&pwru_test_hash, &daddr);

	if (n)
		__sync_fetch_and_add(n, 1);
	bpf_map_lookup_elem(&pwru_test_hash, &saddr);

	struct ipv4_ct_tuple t = {
		.daddr = saddr,
		.saddr = daddr,
		.dport = udp->dest,
		.sport = udp->source,
		.nexthdr = IPPROTO_UDP,
		.flags = TUPLE_F_OUT,
	};

	if (!bpf_map_lookup_elem(&cilium_ct4_global, &t)) {
		struct ct_entry e = {
			.packets = 1,
			.bytes = skb->len,
			.lifetime = 21600,
			.rev_nat_index = bpf_htons(7),
			.src_sec_id = 2,
		};

		bpf_map_update_elem(&cilium_ct4_global, &t, &e, BPF_ANY);
	}
	if (dport == 7011)
		bpf_map_delete_elem(&cilium_ct4_global, &t);
	return TC_ACT_OK;
}
