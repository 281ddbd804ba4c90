/* SPDX-License-Identifier: GPL-2.0 */
/* Reading an skb: its netns, whether it is the tracer's own netlink traffic, where its packet starts, the pcap filter
 * on its bytes, and its 5-tuple. */
#ifndef PWRU_SKB_H
#define PWRU_SKB_H

static __always_inline __u32 netns_of(struct sk_buff *skb, struct net_device *dev)
{
	__u32 inum = 0;

	if (dev)
		inum = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	if (!inum) {
		struct sock *sk = BPF_CORE_READ(skb, sk);

		if (sk)
			inum = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	}
	return inum;
}

/* The tracer's own rtnetlink lookups (interface names) would otherwise show up as events. Only its netlink skbs are
 * skipped: a softirq can run real packets while the tracer happens to be the current task. */
static __always_inline int is_own_netlink(struct sk_buff *skb)
{
	if (!CFG_SELF_TGID || (bpf_get_current_pid_tgid() >> 32) != CFG_SELF_TGID)
		return 0;
	struct sock *sk = BPF_CORE_READ(skb, sk);

	return sk && BPF_CORE_READ(sk, __sk_common.skc_family) == 16 /* AF_NETLINK */;
}

#define HDR_UNSET 0xffff

/* Where an skb's packet starts for the filter and the packet section: at the MAC header when the skb has one, else
 * at the network header (DLT_RAW). It has one when mac_header is set and lies before the network header or the
 * data; mac_len alone tells too little (it is set only on receive, after trace_netif_receive_skb), and devices
 * without a link-layer header (tun, ipip) leave mac_header equal to both. */
struct pkt_span {
	unsigned char *start; /* first byte */
	__u64 wire;           /* bytes from start to the end of the packet */
	__u64 linear;         /* of those, bytes in the linear data (readable at start) */
	__u8 l3;              /* 1: starts at the network header */
};

static __always_inline struct pkt_span packet_span(struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	unsigned char *data = BPF_CORE_READ(skb, data);
	__u32 mac = BPF_CORE_READ(skb, mac_header);
	__u32 nh = BPF_CORE_READ(skb, network_header);
	__u32 mac_len = BPF_CORE_READ(skb, mac_len);
	__u32 tail = BPF_CORE_READ(skb, tail);
	__u32 len = BPF_CORE_READ(skb, len);
	__u64 data_off = data - head;
	struct pkt_span s;
	__u64 off;

	if (mac != HDR_UNSET && (mac_len != 0 || nh > mac || data_off > mac)) {
		off = mac;
		s.l3 = 0;
	} else {
		off = nh ? nh : data_off;
		s.l3 = 1;
	}
	s.start = head + off;
	s.wire = data_off + len > off ? data_off + len - off : 0;
	s.linear = tail > off ? tail - off : 0;
	return s;
}

/* Copies up to `want` bytes of the packet's linear data to dst, at most `room` (a constant: the verifier needs the
 * bound); returns how many (0 when the read fails). */
static __always_inline __u64 read_packet(void *dst, struct pkt_span *p, __u64 want, __u64 room)
{
	__u64 n = p->linear;

	if (n > want)
		n = want;
	if (n > room)
		n = room;
	if (bpf_probe_read_kernel(dst, n, p->start))
		n = 0;
	return n;
}

/* Copies the packet at p into FILTER_BUF and runs the spliced pcap filter on it. */
static __always_inline int run_filter_on(struct pkt_span p)
{
	__u32 zero = 0;
	struct filter_buf *fb = bpf_map_lookup_elem(&FILTER_BUF, &zero);

	if (!fb)
		return 0;

	__u64 caplen = read_packet(fb->data, &p, FILTER_SNAPLEN, FILTER_BUF_SIZE);

	return pcap_filter(fb->data, caplen, p.wire, p.l3);
}

static __always_inline int run_filter(struct sk_buff *skb)
{
	return run_filter_on(packet_span(skb));
}

#define IPV6_MAX_EXT_HDRS 8

/* The IP header behind the Ethernet header at mac and at most one VLAN tag; 0 when the frame carries no IP. */
static __always_inline unsigned char *l3_behind_eth(unsigned char *mac)
{
	__be16 type;

	if (bpf_probe_read_kernel(&type, 2, mac + 12))
		return 0;
	if (type == bpf_htons(0x8100) || type == bpf_htons(0x88a8)) {
		if (bpf_probe_read_kernel(&type, 2, mac + 16))
			return 0;
		return type == bpf_htons(0x0800) || type == bpf_htons(0x86dd) ? mac + 18 : 0;
	}
	return type == bpf_htons(0x0800) || type == bpf_htons(0x86dd) ? mac + 14 : 0;
}

/* Fills the tuple fields of e from the IP header at l3 (IPv4 or IPv6, after the IPv6 extension headers). */
static __always_inline void parse_l3(struct event *e, unsigned char *l3)
{
	__u8 b[2];

	if (bpf_probe_read_kernel(b, 2, l3))
		return;

	unsigned char *l4;
	__u8 proto;
	int fragment = 0;

	if ((b[0] >> 4) == 4) {
		__u8 ip[20];

		if (bpf_probe_read_kernel(ip, sizeof(ip), l3))
			return;
		__u32 ihl = (ip[0] & 0xf) * 4;
		if (ihl < 20)
			return;
		proto = ip[9];
		__builtin_memcpy(e->saddr, &ip[12], 4);
		__builtin_memcpy(e->daddr, &ip[16], 4);
		fragment = ((ip[6] & 0x1f) << 8 | ip[7]) != 0;
		l4 = l3 + ihl;
	} else if ((b[0] >> 4) == 6) {
		__u8 nexthdr;

		if (bpf_probe_read_kernel(&nexthdr, 1, l3 + 6) ||
		    bpf_probe_read_kernel(e->saddr, 16, l3 + 8) ||
		    bpf_probe_read_kernel(e->daddr, 16, l3 + 24))
			return;
		e->flags |= EV_IPV6;
		l4 = l3 + 40;
#pragma unroll
		for (int i = 0; i < IPV6_MAX_EXT_HDRS; i++) {
			__u8 h[4];
			__u32 hlen;

			if (nexthdr != 0 && nexthdr != 43 && nexthdr != 60 && nexthdr != 44 && nexthdr != 51)
				break;
			if (bpf_probe_read_kernel(h, sizeof(h), l4))
				return;
			if (nexthdr == 44) { /* fragment: fixed 8 bytes; later fragments carry no L4 header */
				hlen = 8;
				if (((h[2] << 8 | h[3]) & 0xfff8) != 0)
					fragment = 1;
			} else if (nexthdr == 51) { /* AH: length in 4-byte units, minus 2 */
				hlen = (h[1] + 2) * 4;
			} else { /* hop-by-hop, routing, destination options: 8-byte units, minus 1 */
				hlen = (h[1] + 1) * 8;
			}
			nexthdr = h[0];
			l4 += hlen;
		}
		proto = nexthdr;
	} else {
		return;
	}

	e->l4_proto = proto;
	e->flags |= EV_HAS_TUPLE;
	if (fragment)
		return;
	if (proto == 6 || proto == 17 || proto == 132 || proto == 136) { /* TCP, UDP, SCTP, UDP-Lite */
		__be16 ports[2];

		if (bpf_probe_read_kernel(ports, sizeof(ports), l4))
			return;
		e->sport = bpf_ntohs(ports[0]);
		e->dport = bpf_ntohs(ports[1]);
		if (proto == 6)
			bpf_probe_read_kernel(&e->tcp_flags, 1, l4 + 13);
	}
}

/* Fills the tuple fields of e from the skb's IP header: at its network header, or, before that is set, behind
 * its MAC header. */
static __always_inline void parse_tuple(struct event *e, struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u32 nh = BPF_CORE_READ(skb, network_header);
	__u32 mac = BPF_CORE_READ(skb, mac_header);
	unsigned char *l3 = 0;

	if (nh)
		l3 = head + nh;
	else if (mac != HDR_UNSET)
		l3 = l3_behind_eth(head + mac);
	if (l3)
		parse_l3(e, l3);
}

#endif
