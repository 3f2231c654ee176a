/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A membrane_lxc object the verifier rejects, for ci.broken_bpf_object_fails: the same maps,
 * load-time knobs and program names as bpf/membrane_lxc.bpf.c (the loader binds them by name),
 * but membrane_from_container reads the packet without a bounds check. Never loaded outside
 * that test (MEMBRANE_BPF_OBJECT points the loader at it).
 */
#include "bpf/lib/lxc.h"
#include "bpf/lib/overlay.h"

SEC("tc")
int membrane_from_container(struct __sk_buff *ctx)
{
	/* Out of bounds: no `data + 1 > data_end` check before the read. */
	__u8 *data = (__u8 *)(long)ctx->data;

	return data[0] == 0 ? TC_ACT_OK : lxc_handle(ctx, MEMBRANE_DIR_EGRESS);
}

SEC("tc")
int membrane_to_container(struct __sk_buff *ctx)
{
	return lxc_handle(ctx, MEMBRANE_DIR_INGRESS);
}

SEC("tc")
int membrane_from_overlay(struct __sk_buff *ctx)
{
	__u32 identity = 0;

	return overlay_receive4(ctx, &membrane_ipcache, &identity) ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
