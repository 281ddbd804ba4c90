// SPDX-License-Identifier: GPL-2.0
/* pwru's probes: one event per (skb, probed function or tracepoint) into a ring buffer.
 *
 * One translation unit, so that every program shares the same maps in one object; each program type has its own
 * file, included below:
 *   contract.h  enums shared with the loader (probes/src/contract.rs)   event.h   the ring-buffer record
 *   common.h    registers, configuration, maps, counters, skb tracking   skb.h     reading an skb
 *   stack.h     following a packet by the task that processes it
 *   filter.h    the spliced pcap filter stub                            btf_expr.h  the spliced BTF-expression stubs
 *   tunnel.h    VXLAN/Geneve inner packets (SEC_TUNNEL, tunnel filters)  handle.h  the shared program body
 *   kprobe.c    kprobe / kprobe-multi programs                          tracepoint.c  tp_btf / raw_tp programs
 *   bpfprog.c   fentry/fexit on tc and XDP programs, the BPF-helper and map-operation kprobes, the bpf_prog
 *               iterator
 *   filter_test.c  the filter's BPF_PROG_TEST_RUN harness
 * Every helper is __always_inline: the only real subprograms are the stubs the loader splices (filter.h,
 * btf_expr.h). */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "contract.h"
#include "event.h"
#include "kernel.h"
#include "filter.h"
#include "btf_expr.h"
#include "common.h"
#include "stack.h"
#include "skb.h"
#include "tunnel.h"
#include "handle.h"

char LICENSE[] SEC("license") = "GPL";

/* Puts the contract's types into the object's BTF (locals of inlined functions and enums used only for their
 * constants are not described there), so that tests/layout.rs can check them against their Rust mirrors. */
struct pwru_contract {
	struct event event;
	struct section_head section;
	struct section_packet packet;
	struct section_skb_cb skb_cb;
	struct section_verdict verdict;
	struct prog_ref prog_ref;
	struct section_dump dump;
	enum pwru_dump_what dump_what;
	enum pwru_btf_abi btf_abi;
	struct section_tunnel tunnel;
	struct section_map_op map_op;
	enum pwru_record_type record;
	enum pwru_section_kind section_kind;
	enum pwru_section_flag section_flag;
	enum pwru_packet_start packet_start;
	enum pwru_packet_abi packet_abi;
	enum pwru_event_flag flag;
	enum pwru_event_kind kind;
	enum pwru_counter counter;
	enum pwru_role role;
	enum pwru_summary_abi summary_abi;
	enum pwru_tp_id tp_id;
	enum pwru_cookie cookie;
	enum pwru_filter_abi filter;
	enum pwru_prog_marker prog_marker;
	enum pwru_filter_mode filter_mode;
	enum pwru_tunnel_kind tunnel_kind;
	enum pwru_tunnel_flag tunnel_flag;
	enum pwru_map_op map_op_kind;
	enum pwru_map_op_flag map_op_flag;
};
struct pwru_contract *const PWRU_CONTRACT_BTF __attribute__((used)) = 0;

#include "kprobe.c"
#include "bpfprog.c"
#include "tracepoint.c"
#include "filter_test.c"
