/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Endpoints map ABI: local endpoint address -> endpoint id, identity, ifindex
 * (Cilium's cilium_lxc). The programs find "their" endpoint by the packet's source
 * (leaving the pod) or destination (entering it) and check the ifindex (anti-spoof).
 */
#ifndef MEMBRANE_BPF_INCLUDE_ENDPOINTS_H
#define MEMBRANE_BPF_INCLUDE_ENDPOINTS_H

#include <linux/types.h>

/* 20 bytes. */
struct membrane_endpoint_key {
	__be32 ip4;   /* network order */
	__u32 pad[3]; /* room for IPv6 */
	__u8 family;  /* MEMBRANE_FAMILY_IPV4 (bpf/include/ipcache.h) */
	__u8 pad1;
	__u16 cluster_id;
};

#define MEMBRANE_ENDPOINT_F_HOST	 0x1
#define MEMBRANE_ENDPOINT_F_POLICY_AUDIT 0x2 /* policy drops pass, reported as AUDIT */

/* 32 bytes. */
struct membrane_endpoint_info {
	__u32 ifindex;	    /* host-side veth; 0 = do not check the interface */
	__u16 endpoint_id;  /* index into membrane_policy */
	__u16 flags;	    /* MEMBRANE_ENDPOINT_F_* */
	__u32 sec_identity; /* the endpoint's own identity, host order */
	__u8 mac[6];
	__u8 node_mac[6];
	__u32 pad[2];
};

#define MEMBRANE_ENDPOINTS_MAP_SIZE 65535

#endif /* MEMBRANE_BPF_INCLUDE_ENDPOINTS_H */
