/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The empty tc program benchmarks divide by (same run, same packet). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int membrane_baseline(struct __sk_buff *ctx)
{
	(void)ctx;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
