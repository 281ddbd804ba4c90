// SPDX-License-Identifier: GPL-2.0
/* A tc program loaded after the tracer started (its own object, so that loading progs.c does not load it). */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tc")
int pwru_test_late_pass(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}
