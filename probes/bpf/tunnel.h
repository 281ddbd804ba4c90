/* SPDX-License-Identifier: GPL-2.0 */
/* Tunnel packets (issue 12): the packet inside a VXLAN or Geneve packet, for the SEC_TUNNEL section
 * (--output-tunnel) and the tunnel filters (--filter-tunnel-pcap-l2/-l3).
 *
 * A packet is a tunnel packet when its outer IP packet is a UDP datagram to VXLAN's ports (4789, and 8472: Linux's
 * and Cilium's default) or Geneve's (6081) that carries a tunnel header, or when the kernel encapsulated it itself
 * (skb->encapsulation, with inner headers behind the outer ones: any tunnel port, GRE, IPIP). Reading the headers
 * rather than only the inner offsets (as pwru does) also finds the inner packet on the receive side, before the
 * kernel decapsulates it. */
#ifndef PWRU_TUNNEL_H
#define PWRU_TUNNEL_H

/* The sk_buff fields only this file reads: a CO-RE flavor of kernel.h's sk_buff (the part after ___ is ignored
 * when matching the kernel's BTF). */
struct sk_buff___tunnel {
	__u8 encapsulation : 1;
	__u16 inner_network_header;
	__u16 inner_mac_header;
} __core;

#define VXLAN_PORT 4789
#define VXLAN_LINUX_PORT 8472
#define GENEVE_PORT 6081
#define ETH_P_TEB 0x6558 /* Geneve: an Ethernet frame follows */

/* Where a tunnel packet's inner packet is. */
struct tunnel_at {
	unsigned char *eth; /* the inner Ethernet header, 0 when the tunnel carries IP directly */
	unsigned char *l3;  /* the inner IP header, 0 when the inner frame is not IP (ARP, ...) */
	__u32 vni;
	__u8 kind;          /* TUN_* */
};

/* The IP header behind an Ethernet header (and at most one VLAN tag), 0 when it is not IPv4/IPv6. */
static __always_inline unsigned char *tunnel_l3_behind(unsigned char *eth)
{
	__be16 type;

	if (bpf_probe_read_kernel(&type, 2, eth + 12))
		return 0;
	if (type == bpf_htons(0x8100) || type == bpf_htons(0x88a8)) {
		if (bpf_probe_read_kernel(&type, 2, eth + 16))
			return 0;
		eth += 4;
	}
	if (type != bpf_htons(0x0800) && type != bpf_htons(0x86dd))
		return 0;
	return eth + 14;
}

/* The outer network header: skb->network_header when set, else behind the MAC header (early on receive). */
static __always_inline unsigned char *tunnel_outer_l3(struct sk_buff *skb, unsigned char *head)
{
	__u32 nh = BPF_CORE_READ(skb, network_header);
	__u32 mac = BPF_CORE_READ(skb, mac_header);

	if (nh)
		return head + nh;
	if (mac != HDR_UNSET)
		return tunnel_l3_behind(head + mac);
	return 0;
}

/* Finds the inner packet of a VXLAN/Geneve datagram whose outer IP header is at l3; 0 when it is none. */
static __always_inline int tunnel_by_port(unsigned char *l3, struct tunnel_at *t)
{
	__u8 ip[20];
	unsigned char *udp;

	if (bpf_probe_read_kernel(ip, sizeof(ip), l3))
		return 0;
	if ((ip[0] >> 4) == 4) {
		if ((ip[0] & 0xf) < 5 || ip[9] != 17 || ((ip[6] & 0x1f) << 8 | ip[7]) != 0) /* UDP, not a later fragment */
			return 0;
		udp = l3 + (ip[0] & 0xf) * 4;
	} else if ((ip[0] >> 4) == 6) {
		__u8 next;

		if (bpf_probe_read_kernel(&next, 1, l3 + 6) || next != 17) /* UDP right behind the fixed header */
			return 0;
		udp = l3 + 40;
	} else {
		return 0;
	}

	__be16 dport;
	__u8 h[8];

	if (bpf_probe_read_kernel(&dport, 2, udp + 2) || bpf_probe_read_kernel(h, sizeof(h), udp + 8))
		return 0;
	t->vni = (__u32)h[4] << 16 | (__u32)h[5] << 8 | h[6];
	if (dport == bpf_htons(VXLAN_PORT) || dport == bpf_htons(VXLAN_LINUX_PORT)) {
		if (!(h[0] & 0x08)) /* the I flag: a valid VNI, as every VXLAN packet has */
			return 0;
		t->kind = TUN_VXLAN;
		t->eth = udp + 16;
		t->l3 = tunnel_l3_behind(t->eth);
		return 1;
	}
	if (dport == bpf_htons(GENEVE_PORT)) {
		__u16 proto = (__u16)h[2] << 8 | h[3];
		unsigned char *inner = udp + 16 + (h[0] & 0x3f) * 4; /* options: 4-byte units */

		if ((h[0] >> 6) != 0) /* version 0 */
			return 0;
		t->kind = TUN_GENEVE;
		if (proto == ETH_P_TEB) {
			t->eth = inner;
			t->l3 = tunnel_l3_behind(inner);
		} else if (proto == 0x0800 || proto == 0x86dd) {
			t->eth = 0;
			t->l3 = inner;
		} else {
			return 0;
		}
		return 1;
	}
	return 0;
}

/* Whether skb is a tunnel packet, and where its inner packet is. */
static __always_inline int find_tunnel(struct sk_buff *skb, struct tunnel_at *t)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	unsigned char *l3 = tunnel_outer_l3(skb, head);

	__builtin_memset(t, 0, sizeof(*t));
	if (l3 && tunnel_by_port(l3, t))
		return 1;

	/* Encapsulated by this kernel (on its way out): the inner headers lie behind the outer network header. */
	struct sk_buff___tunnel *st = (void *)skb;
	__u32 nh = BPF_CORE_READ(skb, network_header);
	__u32 inner_nh = BPF_CORE_READ(st, inner_network_header);
	__u32 inner_mac = BPF_CORE_READ(st, inner_mac_header);

	if (!BPF_CORE_READ_BITFIELD_PROBED(st, encapsulation) || inner_nh <= nh)
		return 0;
	t->kind = TUN_ENCAP;
	t->l3 = head + inner_nh;
	if (inner_mac > nh && inner_mac + 14 <= inner_nh)
		t->eth = head + inner_mac;
	return 1;
}

/* The inner tuple into the SEC_TUNNEL payload. */
static __always_inline void tunnel_tuple(struct tunnel_at *t, struct section_tunnel *s)
{
	__builtin_memset(s, 0, sizeof(*s));
	s->kind = t->kind;
	s->vni = t->vni;
	if (t->kind != TUN_ENCAP)
		s->flags |= TUNF_HAS_VNI;
	if (!t->l3)
		return;

	__u8 ip[20];
	unsigned char *l4;

	if (bpf_probe_read_kernel(ip, sizeof(ip), t->l3))
		return;
	if ((ip[0] >> 4) == 4) {
		s->l4_proto = ip[9];
		__builtin_memcpy(s->saddr, &ip[12], 4);
		__builtin_memcpy(s->daddr, &ip[16], 4);
		l4 = t->l3 + (ip[0] & 0xf) * 4;
		if (((ip[6] & 0x1f) << 8 | ip[7]) != 0) { /* a later fragment has no ports */
			s->flags |= TUNF_HAS_TUPLE;
			return;
		}
	} else if ((ip[0] >> 4) == 6) {
		if (bpf_probe_read_kernel(s->saddr, 16, t->l3 + 8) || bpf_probe_read_kernel(s->daddr, 16, t->l3 + 24))
			return;
		s->l4_proto = ip[6];
		s->flags |= TUNF_IPV6;
		l4 = t->l3 + 40;
	} else {
		return;
	}
	s->flags |= TUNF_HAS_TUPLE;
	if (s->l4_proto == 6 || s->l4_proto == 17 || s->l4_proto == 132 || s->l4_proto == 136) {
		__be16 ports[2];

		if (bpf_probe_read_kernel(ports, sizeof(ports), l4))
			return;
		s->sport = bpf_ntohs(ports[0]);
		s->dport = bpf_ntohs(ports[1]);
		if (s->l4_proto == 6)
			bpf_probe_read_kernel(&s->tcp_flags, 1, l4 + 13);
	}
}

/* Runs a tunnel filter (MODE_TUNNEL_L2/L3) on the inner packet starting at `start`. */
static __always_inline int run_tunnel_filter(struct sk_buff *skb, unsigned char *start, __u32 mode, __u32 snaplen)
{
	__u32 zero = 0;
	struct filter_buf *fb = bpf_map_lookup_elem(&FILTER_BUF, &zero);

	if (!fb)
		return 0;

	unsigned char *head = BPF_CORE_READ(skb, head);
	unsigned char *data = BPF_CORE_READ(skb, data);
	__u64 off = start - head;
	__u64 end = (__u64)(data - head) + BPF_CORE_READ(skb, len);
	__u64 tail = BPF_CORE_READ(skb, tail);
	struct pkt_span p = {
		.start = start,
		.wire = end > off ? end - off : 0,
		.linear = tail > off ? tail - off : 0,
	};
	__u64 caplen = read_packet(fb->data, &p, snaplen, FILTER_BUF_SIZE);

	return pcap_filter(fb->data, caplen, p.wire, mode);
}

/* The tunnel filters: a tunnel packet must carry an inner frame/packet they accept; other packets pass (pwru's
 * rule: the tunnel filters only filter tunnel traffic). */
static __always_inline int tunnel_filters_pass(struct sk_buff *skb)
{
	struct tunnel_at t;

	if (!find_tunnel(skb, &t))
		return 1;
	if (HAVE_TUNNEL_L2 && !(t.eth && run_tunnel_filter(skb, t.eth, FILTER_MODE_TUNNEL_L2, TUNNEL_SNAPLEN_L2)))
		return 0;
	if (HAVE_TUNNEL_L3 && !(t.l3 && run_tunnel_filter(skb, t.l3, FILTER_MODE_TUNNEL_L3, TUNNEL_SNAPLEN_L3)))
		return 0;
	return 1;
}

#endif
