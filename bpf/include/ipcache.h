/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* ipcache ABI: LPM trie, address/prefix -> security identity and tunnel endpoint
 * (Cilium's cilium_ipcache_v2, bpf/lib/eps.h). IPv4 only for now; the address field is
 * 16 bytes so IPv6 fits later without changing the key size.
 */
#ifndef MEMBRANE_BPF_INCLUDE_IPCACHE_H
#define MEMBRANE_BPF_INCLUDE_IPCACHE_H

#include <linux/types.h>

#define MEMBRANE_FAMILY_IPV4 1
#define MEMBRANE_FAMILY_IPV6 2

/* 24 bytes. prefixlen = 32 (cluster_id, pad, family) + address prefix length. */
struct membrane_ipcache_key {
	__u32 prefixlen;  /* struct bpf_lpm_trie_key header */
	__u16 cluster_id; /* 0 unless cluster-aware addressing */
	__u8 pad1;
	__u8 family;   /* MEMBRANE_FAMILY_IPV4 */
	__be32 ip4;    /* network order */
	__u32 pad2[3]; /* room for IPv6 */
};

#define MEMBRANE_IPCACHE_BASE_PREFIX 32

#define MEMBRANE_IPCACHE_F_HAS_TUNNEL_EP 0x1
#define MEMBRANE_IPCACHE_F_SKIP_TUNNEL	 0x2

/* 12 bytes. */
struct membrane_ipcache_info {
	__u32 sec_identity;	/* host order */
	__be32 tunnel_endpoint; /* node hosting the address; 0 = local or none */
	__u8 encrypt_key;	/* reserved for transparent encryption */
	__u8 flags;		/* MEMBRANE_IPCACHE_F_* */
	__u16 pad;
};

#define MEMBRANE_IPCACHE_MAP_SIZE 512000

/* skb->mark carrying a source identity: set by the overlay program (bpf/lib/overlay.h) from
 * the VNI of a packet that arrived through the tunnel, read once on delivery to the pod.
 * The mark never crosses a network namespace (the veth scrubs it), so a pod cannot forge it.
 */
#define MEMBRANE_MARK_MAGIC_IDENTITY 0x0e000000
#define MEMBRANE_MARK_MAGIC_MASK     0xff000000
#define MEMBRANE_MARK_IDENTITY_MASK  0x00ffffff

#endif /* MEMBRANE_BPF_INCLUDE_IPCACHE_H */
