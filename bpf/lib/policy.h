/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Policy lookup: Cilium's __policy_can_access over a per-endpoint LPM trie. Must return
 * exactly what model::lookupMapState returns for the same logical entries.
 */
#ifndef MEMBRANE_BPF_LIB_POLICY_H
#define MEMBRANE_BPF_LIB_POLICY_H

#include "bpf/lib/common.h"

/* Inner map template. Sizes rather than __type(): clang emits only a forward declaration
 * for types reached through two pointer levels, and libbpf then cannot size them.
 */
struct membrane_policy_inner {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MEMBRANE_POLICY_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__uint(key_size, sizeof(struct membrane_policy_key));
	__uint(value_size, sizeof(struct membrane_policy_entry));
};

/* Outer map: endpoint id -> that endpoint's policy trie. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, MEMBRANE_MAX_ENDPOINTS);
	__type(key, __u32);
	__array(values, struct membrane_policy_inner);
} membrane_policy SEC(".maps");

/* Endpoint id -> generation of its installed policy (see membrane_policy_cache_key). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MEMBRANE_MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, __u32);
} membrane_policy_gen SEC(".maps");

/* Memoised lookups: the two LPM walks cost O(trie depth), a hit costs one hash lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MEMBRANE_POLICY_CACHE_SIZE);
	__type(key, struct membrane_policy_cache_key);
	__type(value, struct membrane_policy_verdict);
} membrane_policy_cache SEC(".maps");

static __always_inline __u8 policy_match_type(int l3, __u8 prefix_len)
{
	if (l3)
		return prefix_len > MEMBRANE_POLICY_PROTO_BITS ? MEMBRANE_MATCH_L3_L4
		       : prefix_len > 0			       ? MEMBRANE_MATCH_L3_PROTO
							       : MEMBRANE_MATCH_L3_ONLY;
	return prefix_len > MEMBRANE_POLICY_PROTO_BITS ? MEMBRANE_MATCH_L4_ONLY
	       : prefix_len > 0			       ? MEMBRANE_MATCH_PROTO_ONLY
						       : MEMBRANE_MATCH_ALL;
}

/* `policy_map` is the endpoint's inner trie; `port` is host order (ICMP: the type). */
static __always_inline void policy_can_access4(void *policy_map, __u32 peer, __u8 egress,
					       __u8 proto, __u16 port,
					       struct membrane_policy_verdict *res)
{
	struct membrane_policy_key key = {
	    .prefixlen = MEMBRANE_POLICY_FULL_PREFIX,
	    .sec_label = peer,
	    .egress = egress,
	    .protocol = proto,
	    .dport = bpf_htons(port),
	};
	const struct membrane_policy_entry *l3, *l4 = NULL, *chosen;

	/* Exact identity, LPM over protocol and port. */
	l3 = bpf_map_lookup_elem(policy_map, &key);
	if (!(l3 && l3->precedence == MEMBRANE_PRECEDENCE_DENY) && peer != 0) {
		/* Any identity. */
		key.sec_label = 0;
		l4 = bpf_map_lookup_elem(policy_map, &key);
	}
	chosen = l3;
	if (l4 &&
	    (!l3 || l4->precedence > l3->precedence ||
	     (l4->precedence == l3->precedence && l4->lpm_prefix_length > l3->lpm_prefix_length)))
		chosen = l4;
	if (!chosen) {
		res->drop_reason = MEMBRANE_DROP_POLICY;
		res->match_type = MEMBRANE_MATCH_NONE;
		return;
	}
	res->identity = chosen == l3 ? peer : 0;
	res->prefix_len = chosen->lpm_prefix_length;
	res->match_type = policy_match_type(chosen == l3 && peer != 0, chosen->lpm_prefix_length);
	res->cookie = chosen->cookie;
	if (chosen->deny) {
		res->drop_reason = MEMBRANE_DROP_POLICY_DENY;
		return;
	}
	res->drop_reason = 0;
	res->proxy_port = bpf_ntohs(chosen->proxy_port);
}

#endif /* MEMBRANE_BPF_LIB_POLICY_H */
