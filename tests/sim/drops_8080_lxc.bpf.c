/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* A deliberately wrong datapath for the judging tests of `membrane sim`: the programs of
 * bpf/membrane_lxc.bpf.c (same names, maps and knobs, so MEMBRANE_BPF_OBJECT can replace the
 * real object), except that every new TCP connection to port 8080 entering a pod is dropped
 * as if by policy, with the usual drop event, whatever the policy says. The model allows
 * what this datapath drops: `membrane sim` must fail on it.
 */
#include "bpf/lib/lxc.h"
#include "bpf/lib/overlay.h"

SEC("tc")
int membrane_from_container(struct __sk_buff *ctx)
{
	int ret = lxc_handle(ctx, MEMBRANE_DIR_EGRESS);

	if (ret == TC_ACT_OK)
		ret = overlay_encap4(ctx, &membrane_ipcache, &membrane_endpoints);
	return ret;
}

SEC("tc")
int membrane_to_container(struct __sk_buff *ctx)
{
	struct membrane_flow_event ev = {};
	struct pkt4 p = {};

	if (ctx->protocol == bpf_htons(ETH_P_IP) && !parse_ipv4(ctx, MEMBRANE_CT_INGRESS, &p) &&
	    p.tuple.nexthdr == IPPROTO_TCP && p.policy_port == 8080 &&
	    (p.tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN) {
		ev.direction = MEMBRANE_DIR_INGRESS;
		ev.ifindex = ctx->ifindex;
		ev.pkt_len = ctx->len;
		ev.eth_proto = ctx->protocol;
		ev.saddr = p.tuple.saddr;
		ev.daddr = p.tuple.daddr;
		ev.sport = p.tuple.sport;
		ev.dport = p.tuple.dport;
		ev.protocol = p.tuple.nexthdr;
		ev.tcp_flags = p.tcp_flags;
		return lxc_drop(&ev, MEMBRANE_DROP_POLICY);
	}
	return lxc_handle(ctx, MEMBRANE_DIR_INGRESS);
}

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
