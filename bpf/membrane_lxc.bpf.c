/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Programs for the host side of a pod's veth (clsact) and the node's VXLAN device. */
#include "bpf/lib/lxc.h"
#include "bpf/lib/overlay.h"

/* tc ingress of the host-side veth: packets leaving the pod, egress policy, then
 * encapsulation when the destination is behind another node (overlay mode).
 */
SEC("tc")
int membrane_from_container(struct __sk_buff *ctx)
{
	int ret = lxc_handle(ctx, MEMBRANE_DIR_EGRESS);

	if (ret == TC_ACT_OK)
		ret = overlay_encap4(ctx, &membrane_ipcache, &membrane_endpoints);
	return ret;
}

/* tc egress of the host-side veth: packets entering the pod, ingress policy. */
SEC("tc")
int membrane_to_container(struct __sk_buff *ctx)
{
	return lxc_handle(ctx, MEMBRANE_DIR_INGRESS);
}

/* tc ingress of the node's VXLAN device: source identity from the VNI. */
SEC("tc")
int membrane_from_overlay(struct __sk_buff *ctx)
{
	struct membrane_flow_event ev = {};
	__u32 identity = 0;
	int reason;

	reason = overlay_receive4(ctx, &membrane_ipcache, &identity);
	if (!reason)
		return TC_ACT_OK;
	ev.direction = MEMBRANE_DIR_INGRESS;
	ev.ifindex = ctx->ifindex;
	ev.pkt_len = ctx->len;
	ev.eth_proto = ctx->protocol;
	ev.src_identity = identity;
	return lxc_drop(&ev, reason);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
