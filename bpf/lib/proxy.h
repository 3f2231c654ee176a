/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* L7 proxy redirect. A redirected packet is marked the way Cilium marks packets for its
 * proxy (MARK_MAGIC_TO_PROXY | port << 16) and passed on, but only when the agent has
 * registered a listening proxy on that port in membrane_proxy_ports. Otherwise nothing would
 * enforce the L7 rules, so the packet is dropped (fail closed), as Cilium drops with
 * DROP_PROXY_LOOKUP_FAILED when its proxy socket is missing.
 */
#ifndef MEMBRANE_BPF_LIB_PROXY_H
#define MEMBRANE_BPF_LIB_PROXY_H

#include "bpf/lib/common.h"

#define MEMBRANE_MARK_MAGIC_TO_PROXY 0x0200

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MEMBRANE_PROXY_PORTS_SIZE);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__type(key, struct membrane_proxy_key);
	__type(value, struct membrane_proxy_info);
} membrane_proxy_ports SEC(".maps");

/* 0 when a proxy listens on `proxy_port` (host order) and the packet can reach it from this
 * hook, else the drop reason. Only the leaving-the-pod hook (tc ingress of the host veth) hands
 * a packet to the node's TPROXY rule: the packet enters the node's stack after it. A packet
 * entering a pod (tc egress of the host veth) is past routing; marking it would deliver it to
 * the pod with its L7 rules unenforced, so ingress L7 redirects fail closed until the datapath
 * hairpins such packets to the proxy (docs/l7.md).
 */
static __always_inline __u8 proxy_check4(void *map, __u16 proxy_port, int egress)
{
	struct membrane_proxy_key key = {.port = proxy_port};
	const struct membrane_proxy_info *info;

	if (!egress)
		return MEMBRANE_DROP_PROXY_LOOKUP_FAILED;
	info = bpf_map_lookup_elem(map, &key);

	if (!info || !(info->flags & MEMBRANE_PROXY_F_LISTENING))
		return MEMBRANE_DROP_PROXY_LOOKUP_FAILED;
	return 0;
}

static __always_inline int proxy_redirect4(struct __sk_buff *ctx, __u16 proxy_port)
{
	ctx->mark = MEMBRANE_MARK_MAGIC_TO_PROXY | ((__u32)proxy_port << 16);
	return TC_ACT_OK;
}

#endif /* MEMBRANE_BPF_LIB_PROXY_H */
