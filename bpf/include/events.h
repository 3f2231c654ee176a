/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow event ABI: one record per drop and per traced forward, written to the
 * membrane_events ring buffer. Field meanings follow Hubble's flow.Flow.
 */
#ifndef MEMBRANE_BPF_INCLUDE_EVENTS_H
#define MEMBRANE_BPF_INCLUDE_EVENTS_H

#include <linux/types.h>

#define MEMBRANE_EVENT_FLOW 1

/* 64 bytes. Addresses and L4 ports in network order (as in the packet). */
struct membrane_flow_event {
	__u64 timestamp_ns; /* bpf_ktime_get_ns() */
	__u8 type;	    /* MEMBRANE_EVENT_FLOW */
	__u8 verdict;	    /* enum membrane_verdict */
	__u8 drop_reason;   /* enum membrane_drop_reason; 0 when forwarded */
	__u8 direction;	    /* enum membrane_direction */
	__u8 ct_status;	    /* enum membrane_ct_status */
	__u8 match_type;    /* enum membrane_match_type; NONE: no policy entry consulted/hit */
	__u16 endpoint_id;
	__u32 ifindex;
	__u32 src_identity;
	__u32 dst_identity;
	__be32 saddr;
	__be32 daddr;
	__be16 sport; /* ICMP echo: identifier in the request's sport */
	__be16 dport;
	__u8 protocol;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u32 pkt_len;
	/* The policy entry that decided (match_type != NONE). */
	__u32 policy_identity;	/* 0 = the "any peer" entry */
	__u8 policy_prefix_len; /* over {protocol, port}: 0, 8, 8 + k */
	__u8 policy_protocol;
	__u16 policy_port; /* host order, masked to the prefix */
	__u32 policy_cookie;
	__u16 proxy_port; /* host order; REDIRECTED flows */
	__be16 eth_proto; /* ethertype, for non-IPv4 drops */
};

#define MEMBRANE_EVENTS_SIZE (4 * 1024 * 1024) /* bytes, power of two */

/* cfg_trace_forward values: which forwarded packets get a record (drops always do, with
 * cfg_drop_events). Cilium's monitor aggregation levels map onto them: none = ALL,
 * low = FORWARD, medium = FLAGS, maximum = NEW (docs/datapath.md, "Events").
 */
#define MEMBRANE_TRACE_NONE 0
#define MEMBRANE_TRACE_NEW  1 /* first packet of each flow (CT_NEW) */
#define MEMBRANE_TRACE_ALL  2 /* every forwarded packet */
#define MEMBRANE_TRACE_FLAGS                                                                       \
	3			 /* NEW, and packets with a TCP SYN/FIN/RST new to their direction \
				  */
#define MEMBRANE_TRACE_FORWARD 4 /* NEW and ESTABLISHED (forward direction); no replies */

#endif /* MEMBRANE_BPF_INCLUDE_EVENTS_H */
