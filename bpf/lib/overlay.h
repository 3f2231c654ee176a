/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* VXLAN overlay (Cilium's bpf_overlay / encap.h): the source identity rides in the 24-bit
 * VNI of a VXLAN device in external (collect_md) mode. Sending: a packet leaving a pod for
 * an address whose ipcache entry names a tunnel endpoint is given a tunnel key and
 * redirected to the VXLAN device. Receiving (tc ingress of the VXLAN device): the VNI is
 * trusted only when the outer source is a known node (ipcache identity remote-node); the
 * identity travels to the pod's to-container program in skb->mark.
 */
#ifndef MEMBRANE_BPF_LIB_OVERLAY_H
#define MEMBRANE_BPF_LIB_OVERLAY_H

#include "bpf/lib/common.h"
#include "bpf/lib/endpoints.h"
#include "bpf/lib/ipcache.h"

#define MEMBRANE_VNI_MASK 0xffffff

/* The VXLAN devices' MAC, byte by byte through the volatile: a memcpy would let clang fold
 * the zero initialiser instead of reading the value the loader set.
 */
static __always_inline void overlay_tunnel_mac(__u8 mac[6])
{
#pragma unroll
	for (int i = 0; i < 6; i++)
		mac[i] = cfg_tunnel_mac[i];
}

/* After the pod's egress verdict allowed the packet: encapsulate it when its destination
 * lives behind another node. Returns TC_ACT_OK (route natively), TC_ACT_REDIRECT or
 * TC_ACT_SHOT.
 */
static __always_inline int overlay_encap4(struct __sk_buff *ctx, void *ipcache, void *endpoints)
{
	const struct membrane_ipcache_info *info;
	const struct membrane_endpoint_info *ep;
	struct bpf_tunnel_key key = {};
	__u8 mac[6];
	__be32 addr[2]; /* saddr, daddr: network order */

	if (!cfg_tunnel_ifindex || ctx->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(ctx, ETH_HLEN + __builtin_offsetof(struct iphdr, saddr), addr,
			       sizeof(addr)))
		return TC_ACT_SHOT;
	info = ipcache_lookup4(ipcache, addr[1]);
	if (!info || !(info->flags & MEMBRANE_IPCACHE_F_HAS_TUNNEL_EP) || !info->tunnel_endpoint)
		return TC_ACT_OK;
	ep = endpoint_lookup4(endpoints, addr[0]);
	if (!ep)
		return TC_ACT_SHOT;
	key.tunnel_id = ep->sec_identity & MEMBRANE_VNI_MASK;
	key.remote_ipv4 = bpf_ntohl(info->tunnel_endpoint); /* host order, unlike the rest */
	key.tunnel_ttl = 64;
	if (bpf_skb_set_tunnel_key(ctx, &key, sizeof(key), BPF_F_ZERO_CSUM_TX))
		return TC_ACT_SHOT;
	overlay_tunnel_mac(mac);
	if (bpf_skb_store_bytes(ctx, 0, mac, sizeof(mac), 0))
		return TC_ACT_SHOT;
	return bpf_redirect(cfg_tunnel_ifindex, 0);
}

/* tc ingress of the VXLAN device: validate the sender, hand the VNI identity on in the
 * mark. Returns 0 or a drop reason.
 */
static __always_inline int overlay_receive4(struct __sk_buff *ctx, void *ipcache, __u32 *identity)
{
	const struct membrane_ipcache_info *info;
	struct bpf_tunnel_key key = {};
	__u32 id;

	if (bpf_skb_get_tunnel_key(ctx, &key, sizeof(key), 0))
		return MEMBRANE_DROP_INVALID_IDENTITY;
	info = ipcache_lookup4(ipcache, bpf_htonl(key.remote_ipv4));
	if (!info || info->sec_identity != MEMBRANE_IDENTITY_REMOTE_NODE)
		return MEMBRANE_DROP_UNKNOWN_SENDER;
	id = key.tunnel_id & MEMBRANE_VNI_MASK;
	if (id == MEMBRANE_IDENTITY_HOST)
		return MEMBRANE_DROP_INVALID_IDENTITY;
	*identity = id;
	if (ctx->protocol == bpf_htons(ETH_P_IP))
		ctx->mark = MEMBRANE_MARK_MAGIC_IDENTITY | id;
	return 0;
}

#endif /* MEMBRANE_BPF_LIB_OVERLAY_H */
