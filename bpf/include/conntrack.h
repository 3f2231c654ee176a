/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Conntrack ABI (Cilium's ipv4_ct_tuple / ct_entry, simplified). One LRU hash for all
 * protocols. A connection is stored once per observing program direction: the tuple as
 * the first packet carried it, flags = MEMBRANE_CT_EGRESS or MEMBRANE_CT_INGRESS.
 */
#ifndef MEMBRANE_BPF_INCLUDE_CONNTRACK_H
#define MEMBRANE_BPF_INCLUDE_CONNTRACK_H

#include <linux/types.h>

/* 16 bytes. ICMP echo: request sport = identifier, dport = 0; reply the reverse. */
struct membrane_ct_tuple {
	__be32 daddr;
	__be32 saddr;
	__be16 dport;
	__be16 sport;
	__u8 nexthdr; /* IPPROTO_* */
	__u8 flags;   /* MEMBRANE_CT_EGRESS / MEMBRANE_CT_INGRESS */
	__u16 pad;
};

#define MEMBRANE_CT_EGRESS  0 /* created by the leaving-the-endpoint program (TUPLE_F_OUT) */
#define MEMBRANE_CT_INGRESS 1 /* created by the entering-the-endpoint program (TUPLE_F_IN) */

/* Cilium's ct_status numbers. */
enum membrane_ct_status {
	MEMBRANE_CT_NEW = 0,
	MEMBRANE_CT_ESTABLISHED = 1,
	MEMBRANE_CT_REPLY = 2,
	MEMBRANE_CT_RELATED = 3,
};

#define MEMBRANE_CT_F_SEEN_NON_SYN   0x01
#define MEMBRANE_CT_F_TX_CLOSING     0x02 /* FIN seen in the forward direction */
#define MEMBRANE_CT_F_RX_CLOSING     0x04 /* FIN seen in the reply direction */
#define MEMBRANE_CT_F_PROXY_REDIRECT 0x08
#define MEMBRANE_CT_F_VNI_IDENTITY                                                                 \
	0x10 /* source identity from the overlay's VNI, not the ipcache */

/* 72 bytes. Only allowed flows get an entry, so an entry is an allow verdict for its forward
 * direction: peer identities, cookie, proxy port and match, made under `revision`. A forward
 * packet is decided by this entry alone while `revision` equals membrane_revision; otherwise
 * it takes the full path (ipcache, policy), which refreshes the entry or drops the packet.
 */
struct membrane_ct_entry {
	__u64 expires_ns; /* CLOCK_MONOTONIC deadline, from bpf_ktime_get_coarse_ns() */
	__u64 tx_packets; /* forward direction */
	__u64 tx_bytes;
	__u64 rx_packets; /* reply direction */
	__u64 rx_bytes;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 cookie;	    /* policy entry that allowed the first packet */
	__u16 proxy_port;   /* host order */
	__u8 flags;	    /* MEMBRANE_CT_F_* */
	__u8 tx_flags_seen; /* TCP flags, forward */
	__u8 rx_flags_seen; /* TCP flags, reply */
	/* The verdict that let the flow in, reused by its later forward packets (fast path). */
	__u8 match_type; /* enum membrane_match_type of the deciding policy entry */
	__u8 prefix_len; /* its prefix over {protocol, port} */
	__u8 pad;
	__u32 revision; /* membrane_revision when decided; 0 = never reused */
	/* Services (bpf/include/lb.h): a forward entry of a DNATed flow holds the service's
	 * rev-NAT index (replies get their source rewritten back to the VIP); a service entry
	 * (tuple flags MEMBRANE_CT_SERVICE) holds the chosen backend and the index.
	 */
	__u32 backend_id;
	__u16 rev_nat_index;
	__u16 pad2;
};

#define MEMBRANE_CT_MAP_SIZE 262144

/* membrane_revision (ARRAY, one u32 at key 0): bumped by userspace after every change that
 * can change a verdict (a policy swap, an ipcache or endpoints entry written or removed). The
 * datapath reads it before those maps; a conntrack entry stores the value it read.
 */
#define MEMBRANE_REVISION_KEY 0

#endif /* MEMBRANE_BPF_INCLUDE_CONNTRACK_H */
