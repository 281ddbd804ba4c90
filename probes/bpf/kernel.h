/* SPDX-License-Identifier: GPL-2.0 */
/* The few kernel structures the probes read, declared by hand instead of a generated vmlinux.h. Every struct is
 * marked preserve_access_index, so each field access becomes a CO-RE relocation that the loader resolves by name
 * against the running kernel's BTF: only the names and types matter here, not the offsets or the other members. */
#ifndef PWRU_KERNEL_H
#define PWRU_KERNEL_H

#define __core __attribute__((preserve_access_index))

struct ns_common {
	unsigned int inum;
} __core;

struct net {
	struct ns_common ns;
} __core;

typedef struct {
	struct net *net;
} possible_net_t;

struct net_device {
	int ifindex;
	unsigned int mtu;
	possible_net_t nd_net;
} __core;

struct sock_common {
	unsigned short skc_family;
	possible_net_t skc_net;
} __core;

struct sock {
	struct sock_common __sk_common;
} __core;

struct sk_buff {
	struct net_device *dev;
	struct sock *sk;
	unsigned int len;
	__u16 mac_len;
	__u8 pkt_type : 3;
	__u32 mark;
	__be16 protocol;
	__u16 transport_header;
	__u16 network_header;
	__u16 mac_header;
	unsigned int tail; /* sk_buff_data_t: an offset from head on 64-bit kernels */
	unsigned int end;  /* likewise: struct skb_shared_info sits at head + end */
	unsigned char *head;
	unsigned char *data;
	char cb[48];
} __core;

/* What a tc program sees as __sk_buff->cb[0..4]: the data of the qdisc's view of skb->cb. */
struct qdisc_skb_cb {
	unsigned char data[20];
} __core;

struct xdp_rxq_info {
	struct net_device *dev;
} __core;

/* The context of an XDP program (its xdp_md, as the kernel holds it). */
struct xdp_buff {
	void *data;
	void *data_end;
	void *data_hard_start;
	struct xdp_rxq_info *rxq;
} __core;

/* For the bpf_prog iterator (probes/src/progs/refs.rs): each program's id, type and reference count. */
typedef struct {
	__s64 counter;
} atomic64_t;

struct bpf_prog_aux {
	atomic64_t refcnt;
	__u32 id;
} __core;

struct bpf_prog {
	enum bpf_prog_type type;
	struct bpf_prog_aux *aux;
} __core;

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
} __core;

struct bpf_iter__bpf_prog {
	struct bpf_iter_meta *meta;
	struct bpf_prog *prog;
} __core;

#endif
