/* SPDX-License-Identifier: GPL-2.0 */
/* filter_test: the in-kernel check of a spliced filter (BPF_PROG_TEST_RUN from probes::filter_check). */

SEC("classifier")
int filter_test(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct filter_buf *fb = bpf_map_lookup_elem(&FILTER_BUF, &zero);

	if (!fb)
		return 0;

	__u32 start = FILTER_TEST_L3 ? 14 : 0;
	__u64 wire = skb->len > start ? skb->len - start : 0;
	__u64 caplen = wire;

	if (caplen > FILTER_SNAPLEN)
		caplen = FILTER_SNAPLEN;
	if (caplen > FILTER_BUF_SIZE)
		caplen = FILTER_BUF_SIZE;
	if (caplen && bpf_skb_load_bytes(skb, start, fb->data, caplen))
		caplen = 0;
	return pcap_filter(fb->data, caplen, wire, FILTER_TEST_L3 ? 1 : 0);
}
