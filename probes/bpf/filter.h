/* SPDX-License-Identifier: GPL-2.0 */
/* The pcap filter stub (docs/filter-abi.md). The loader replaces this function's instructions with the code the
 * pcap-filter compiler generates. It sits alone in its section (aya 0.14 mis-links calls between non-inlined
 * functions at equal offsets in different .text* sections), and its body hides every argument behind an asm
 * statement so clang can neither drop an argument nor fold the result into the callers. (The loader's own linking,
 * probes/src/linked.rs, keeps two stubs at offset 0 of their sections apart.) */
#ifndef PWRU_FILTER_H
#define PWRU_FILTER_H

/* Bytes of packet copied for the filter: pcap-filter's FILTER_BUF_SIZE (pcap-filter/src/codegen.rs), which the
 * generated code's bounds checks assume; probes/tests/layout.rs checks that the two agree. */
enum pwru_filter_abi {
	FILTER_BUF_SIZE = 2048,
};

/* The stub's fourth argument: which filter of the joined body runs (probes/src/filters.rs) on what the buffer holds. */
enum pwru_filter_mode {
	FILTER_MODE_L2 = 0,        /* the main filter; an Ethernet frame */
	FILTER_MODE_L3 = 1,        /* the main filter; an IP packet */
	FILTER_MODE_TUNNEL_L2 = 2, /* --filter-tunnel-pcap-l2; the inner Ethernet frame of a tunnel packet */
	FILTER_MODE_TUNNEL_L3 = 3, /* --filter-tunnel-pcap-l3; the inner IP packet */
};

static __attribute__((noinline, section(".text.pcap_filter")))
int pcap_filter(void *buf, __u32 caplen, __u32 wirelen, __u32 l3)
{
	int verdict;

	asm volatile("%0 = 1" : "=r"(verdict) : "r"(buf), "r"(caplen), "r"(wirelen), "r"(l3));
	return verdict;
}

#endif
