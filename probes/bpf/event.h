/* SPDX-License-Identifier: GPL-2.0 */
/* The one definition of what the BPF side sends to userspace. Its Rust mirror is
 * probes/src/event.rs (RawEvent); probes/tests/layout.rs checks that the two agree
 * by reading this struct's BTF (and the enums' values) out of the compiled objects. Only fixed-width types. */
#ifndef PWRU_EVENT_H
#define PWRU_EVENT_H

/* ---- records ----
 * Every ring-buffer record starts with struct record_head; its type says which fixed part follows. After the fixed
 * part come head.nsections sections, each a struct section_head and head->len bytes of payload. A section starts at
 * an 8-byte aligned offset from the record's start (its writer zeroes the padding); head.size counts every byte up
 * to the end of the last section. Readers skip section kinds they do not know, so a feature adds a section kind
 * without touching the others. */
struct record_head {
	__u16 size;      /* bytes of the whole record */
	__u8 rtype;      /* enum pwru_record_type */
	__u8 nsections;  /* sections after the fixed part */
	__u32 sections;  /* 1 << kind for each section kind present */
};

enum pwru_record_type {
	REC_EVENT = 0,  /* struct event: one skb seen by one probe */
	REC_MAP_OP = 1, /* unused: map operations are REC_EVENT records with a SEC_MAP_OP section */
};

/* event.flags */
enum pwru_event_flag {
	EV_HAS_TUPLE = 1 << 0,  /* saddr/daddr/ports/l4_proto are valid */
	EV_HAS_REASON = 1 << 1, /* drop_reason is valid */
	EV_HAS_CALLER = 1 << 2, /* caller_ip is valid */
	EV_HAS_STACK = 1 << 3,  /* stack_id is valid */
	EV_IPV6 = 1 << 4,       /* addresses are IPv6 (else IPv4 in the first 4 bytes) */
	EV_TRACKED = 1 << 5,    /* passed because skb tracking follows this skb (or an XDP buffer it was built on) */
	EV_IN_PROG = 1 << 6,    /* a BPF helper called by traced program probe_id (kprobe kind; caller_ip: the call) */
	EV_BY_STACK = 1 << 7,   /* followed by stack (stack.h): an skb the carried packet's task handles, or a
				 * --filter-non-skb-funcs function run for it (skb = the carried skb) */
};

/* event.kind */
enum pwru_event_kind {
	EV_KIND_KPROBE = 0,     /* func_ip = address of the probed function */
	EV_KIND_TRACEPOINT = 1, /* probe_id = index into the loader's tracepoint table */
	EV_KIND_TC = 2,         /* a traced tc program (sched_cls/sched_act): probe_id = its program id; skb = its skb */
	EV_KIND_XDP = 3,        /* a traced XDP program: probe_id = its program id; skb = its struct xdp_buff */
};

/* The fixed part of a REC_EVENT record. */
struct event {
	struct record_head head;
	__u64 ts_ns;       /* bpf_ktime_get_ns() */
	__u64 skb;         /* struct sk_buff address */
	__u64 func_ip;     /* probed function (kprobe kinds) */
	__u64 caller_ip;   /* return address, with EV_HAS_CALLER */
	__u32 probe_id;    /* tracepoint index (tracepoint kind) */
	__u32 pid;         /* tgid of the current task */
	__u32 cpu;
	__u32 netns;       /* inode of the skb's network namespace */
	__u32 mark;
	__u32 ifindex;
	__u32 len;         /* skb->len */
	__u32 mtu;
	__u32 drop_reason; /* enum skb_drop_reason, with EV_HAS_REASON */
	__s32 stack_id;    /* STACKS map id, with EV_HAS_STACK */
	__u16 protocol;    /* skb->protocol, network byte order as in the skb */
	__u16 sport;       /* host byte order */
	__u16 dport;       /* host byte order */
	__u8  pkt_type;
	__u8  l4_proto;    /* IPPROTO_* after IPv6 extension headers */
	__u8  tcp_flags;
	__u8  kind;        /* EV_KIND_* */
	__u8  flags;       /* EV_* */
	__u8  _pad;
	__u8  saddr[16];
	__u8  daddr[16];
	char  comm[16];
};

/* ---- sections ---- */
struct section_head {
	__u16 kind;  /* enum pwru_section_kind */
	__u16 flags; /* per kind */
	__u32 len;   /* payload bytes after this header, without padding */
};

/* Section kinds: one bit each in record_head.sections, so at most 31. Reserved kinds are documented here before
 * they are implemented, so that features developed side by side do not collide. */
enum pwru_section_kind {
	SEC_PACKET = 1,     /* struct section_packet, then the packet bytes (issue 13) */
	SEC_SKB_CB = 2,     /* struct section_skb_cb: __sk_buff->cb[0..4] */
	SEC_VERDICT = 3,    /* struct section_verdict: a traced program returned (EV_KIND_TC/XDP at fexit) */
	SEC_BTF_VALUES = 4, /* values of BTF expressions, in the order of the loader's list; SECF_XDP: over the xdp_buff */
	SEC_BTF_DUMP = 5,   /* reserved (issue 11): bpf_snprintf_btf() text of a struct; flag SECF_CUT if it did not fit */
	SEC_TUNNEL = 6,     /* reserved (issue 12): the inner tuple of a VXLAN/Geneve packet */
	SEC_MAP_OP = 7,     /* struct section_map_op: a BPF map operation of a traced program (--output-bpfmap) */
};

enum pwru_section_flag {
	SECF_CUT = 1 << 0, /* the payload was cut to fit its buffer */
	SECF_XDP = 1 << 1, /* SEC_BTF_VALUES: over the struct xdp_buff (--output-xdp-metadata), not the sk_buff */
};

/* SEC_BTF_VALUES payload: the output area of the spliced btf_fetch() (docs/btf-expr-abi.md), CFG_META_SIZE bytes, or
 * with SECF_XDP of xdp_fetch(), CFG_XDP_META_SIZE bytes:
 * one slot per expression of the loader's list. */

/* SEC_BTF_DUMP payload: this header, then the text bpf_snprintf_btf() wrote (section len - 8 bytes, no NUL). */
struct section_dump {
	__s32 ret;   /* bpf_snprintf_btf()'s answer: the text's full length (more than fit: SECF_CUT), or -errno */
	__u8 what;   /* enum pwru_dump_what */
	__u8 _pad[3];
};

enum pwru_dump_what {
	DUMP_SKB = 0,    /* struct sk_buff */
	DUMP_SHINFO = 1, /* struct skb_shared_info, at skb->head + skb->end */
};

/* Sizes of the BTF sections' payloads at most: BTF_AREA_MAX is btf-expr's MAX_AREA (the largest output area a
 * fetcher writes), DUMP_BUF_MAX the largest text buffer per dump (the loader's CFG_DUMP_SIZE is at most this). */
enum pwru_btf_abi {
	BTF_AREA_MAX = 1024,
	DUMP_BUF_MAX = 4096,
};

/* SEC_PACKET payload: this header, then cap_len bytes of the packet from its first byte. */
struct section_packet {
	__u32 orig_len; /* bytes of the packet from its first byte to its end (skb->len from there) */
	__u16 cap_len;  /* bytes that follow: at most the snaplen, and only the skb's linear data */
	__u8 start;     /* enum pwru_packet_start */
	__u8 _pad;
};

/* SEC_SKB_CB payload (20 bytes; the writer zeroes the padding after it). */
struct section_skb_cb {
	__u32 cb[5]; /* __sk_buff->cb[0..4]: the data of struct qdisc_skb_cb */
};

/* SEC_VERDICT payload: what the traced program (event.probe_id) returned: TC_ACT_* or XDP_*. For a tc or XDP
 * program that tail-calls, the verdict of the last program of the chain (fexit sees the chain's return). */
struct section_verdict {
	__s32 retval;
	__u32 _pad;
};

enum pwru_packet_start {
	PKT_START_L2 = 0, /* at the MAC header */
	PKT_START_L3 = 1, /* at the network header (the skb has no MAC header) */
};

/* SEC_TUNNEL payload (--output-tunnel): the tunnel a VXLAN/Geneve packet belongs to and its inner packet's tuple. */
struct section_tunnel {
	__u8 kind;      /* enum pwru_tunnel_kind */
	__u8 flags;     /* enum pwru_tunnel_flag */
	__u8 l4_proto;  /* of the inner packet, with TUNF_HAS_TUPLE */
	__u8 tcp_flags;
	__u32 vni;      /* with TUNF_HAS_VNI */
	__u16 sport;    /* host byte order */
	__u16 dport;
	__u32 _pad;
	__u8 saddr[16]; /* IPv4 in the first 4 bytes unless TUNF_IPV6 */
	__u8 daddr[16];
};

enum pwru_tunnel_kind {
	TUN_VXLAN = 1,  /* UDP to port 4789 or 8472 with a VXLAN header */
	TUN_GENEVE = 2, /* UDP to port 6081 with a Geneve header */
	TUN_ENCAP = 3,  /* encapsulated by this kernel: skb->encapsulation and inner headers set (any tunnel) */
};

enum pwru_tunnel_flag {
	TUNF_HAS_VNI = 1 << 0,
	TUNF_HAS_TUPLE = 1 << 1, /* the inner packet is IP: addresses, l4_proto (and ports for TCP/UDP/SCTP) */
	TUNF_IPV6 = 1 << 2,
};

/* Largest snaplen the probes take (the per-CPU record buffer holds one event with this many packet bytes): a
 * 9000-byte jumbo frame fits. */
enum pwru_packet_abi {
	SNAPLEN_MAX = 16384,
	MAPOP_KEY_MAX = 64,    /* key bytes a SEC_MAP_OP section holds (Cilium's largest key, the IPv6 CT tuple, is 38) */
	MAPOP_VALUE_MAX = 128, /* value bytes it holds */
};

/* SEC_MAP_OP payload: a lookup, update or delete that a traced tc/XDP program (event.probe_id) did on a map while
 * it ran on the event's packet. data holds key_len key bytes, then value_len value bytes (a lookup's value when it
 * hit, an update's new value). Fixed size: the lengths say what is valid. */
struct section_map_op {
	__u32 map_id;
	__u32 map_type;   /* enum bpf_map_type */
	__u32 key_size;   /* the map's, of which key_len bytes are here */
	__u32 value_size; /* the map's, of which value_len bytes are here */
	__u16 key_len;
	__u16 value_len;
	__u8 op;          /* enum pwru_map_op */
	__u8 flags;       /* enum pwru_map_op_flag */
	__u8 _pad[2];
	char name[16];    /* the map's name (15 characters and a NUL at most, as the kernel keeps it) */
	__u8 data[MAPOP_KEY_MAX + MAPOP_VALUE_MAX];
};

enum pwru_map_op {
	MAPOP_LOOKUP = 1,
	MAPOP_UPDATE = 2,
	MAPOP_DELETE = 3,
};

enum pwru_map_op_flag {
	MAPF_HIT = 1 << 0,   /* a lookup found the key */
	MAPF_VALUE = 1 << 1, /* value_len value bytes follow the key */
};

/* ---- the bpf_prog iterator's records (iter_prog_refs, read by probes/src/progs/refs.rs) ---- */
struct prog_ref {
	__u32 id;     /* program id */
	__u32 prog_type; /* enum bpf_prog_type */
	__s64 refcnt; /* bpf_prog_aux.refcnt, the iterator's own reference included */
};

#endif
