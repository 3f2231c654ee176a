/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Programs for the host side of a pod's veth (clsact). */
#include "bpf/lib/lxc.h"

/* tc ingress of the host-side veth: packets leaving the pod, egress policy. */
SEC("tc")
int membrane_from_container(struct __sk_buff *ctx)
{
	return lxc_handle(ctx, MEMBRANE_DIR_EGRESS);
}

/* tc egress of the host-side veth: packets entering the pod, ingress policy. */
SEC("tc")
int membrane_to_container(struct __sk_buff *ctx)
{
	return lxc_handle(ctx, MEMBRANE_DIR_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
