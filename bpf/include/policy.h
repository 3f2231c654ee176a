/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-endpoint policy map ABI (Cilium's LPM policy map, bpf/lib/policy.h).
 *
 * membrane_policy is an ARRAY_OF_MAPS indexed by endpoint id; each slot holds one LPM_TRIE
 * with the endpoint's compiled MapState. Swapping a slot replaces an endpoint's whole policy
 * atomically (see docs/map-abi.md).
 */
#ifndef MEMBRANE_BPF_INCLUDE_POLICY_H
#define MEMBRANE_BPF_INCLUDE_POLICY_H

#include <linux/types.h>

/* 12 bytes. prefixlen counts the bits after itself: 32 (identity) + 8 (direction byte) are
 * always matched; then 0, 8 (protocol) or 8 + k (protocol and the first k bits of dport).
 */
struct membrane_policy_key {
	__u32 prefixlen; /* struct bpf_lpm_trie_key header */
	__u32 sec_label; /* peer identity, host order; 0 = any peer */
	__u8 egress;	 /* 1 = egress (leaving the endpoint), 0 = ingress */
	__u8 protocol;	 /* IPPROTO_*; 0 only with a wildcarded port */
	__be16 dport;	 /* network order; ICMP: the ICMP type */
};

/* 12 bytes. */
struct membrane_policy_entry {
	__be16 proxy_port;	/* network order; != 0: redirect to this L7 proxy port */
	__u8 deny;		/* 1: drop with MEMBRANE_DROP_POLICY_DENY */
	__u8 lpm_prefix_length; /* prefix over {protocol, dport}: 0, 8, 8 + k (k <= 16) */
	__u32 precedence;	/* higher wins; MEMBRANE_PRECEDENCE_DENY short-circuits */
	__u32 cookie;		/* reported in flow events (rule correlation) */
};

#define MEMBRANE_POLICY_BASE_PREFIX 40 /* identity + direction bits */
#define MEMBRANE_POLICY_PROTO_BITS  8
#define MEMBRANE_POLICY_FULL_PREFIX 64 /* MEMBRANE_POLICY_BASE_PREFIX + 8 + 16 */
#define MEMBRANE_PRECEDENCE_DENY    0xFFFFFFFFu
#define MEMBRANE_POLICY_MAP_SIZE    16384 /* per endpoint; overridable at load time */
#define MEMBRANE_MAX_ENDPOINTS	    1024  /* outer array size; overridable at load time */

/* The outcome of one policy lookup; also the value of the decision cache. 16 bytes. */
struct membrane_policy_verdict {
	__u8 drop_reason; /* 0: allowed (maybe redirected), 133 or 181 */
	__u8 match_type;  /* enum membrane_match_type */
	__u8 prefix_len;  /* of the deciding entry */
	__u8 pad;
	__u32 identity; /* of the deciding entry's key: the peer or 0 */
	__u32 cookie;
	__u16 proxy_port; /* host order */
	__u16 pad2;
};

/* Decision cache key (membrane_policy_cache, LRU). `generation` is the endpoint's
 * membrane_policy_gen value, bumped by the writer after every policy swap, so entries of an
 * older policy are never hit again. 16 bytes.
 */
struct membrane_policy_cache_key {
	__u32 generation;
	__u32 identity; /* peer identity as resolved for this packet */
	__u16 endpoint_id;
	__u8 egress;
	__u8 protocol;
	__u16 port; /* host order; ICMP: the type */
	__u16 pad;
};

#define MEMBRANE_POLICY_CACHE_SIZE 65536

/* Cilium's policy match types (policy_verdict_notify.match_type). */
enum membrane_match_type {
	MEMBRANE_MATCH_NONE = 0,
	MEMBRANE_MATCH_L3_ONLY = 1,    /* exact identity, any proto/port */
	MEMBRANE_MATCH_L3_L4 = 2,      /* exact identity, proto and (part of) port */
	MEMBRANE_MATCH_L4_ONLY = 3,    /* any identity, proto and (part of) port */
	MEMBRANE_MATCH_ALL = 4,	       /* any identity, any proto/port */
	MEMBRANE_MATCH_L3_PROTO = 5,   /* exact identity, proto only */
	MEMBRANE_MATCH_PROTO_ONLY = 6, /* any identity, proto only */
};

#endif /* MEMBRANE_BPF_INCLUDE_POLICY_H */
