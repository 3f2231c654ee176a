/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Local endpoints: address -> endpoint info (cilium_lxc). */
#ifndef MEMBRANE_BPF_LIB_ENDPOINTS_H
#define MEMBRANE_BPF_LIB_ENDPOINTS_H

#include "bpf/lib/common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MEMBRANE_ENDPOINTS_MAP_SIZE);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__type(key, struct membrane_endpoint_key);
	__type(value, struct membrane_endpoint_info);
} membrane_endpoints SEC(".maps");

static __always_inline struct membrane_endpoint_info *endpoint_lookup4(void *map, __be32 addr)
{
	struct membrane_endpoint_key key = {
	    .ip4 = addr,
	    .family = MEMBRANE_FAMILY_IPV4,
	};

	return bpf_map_lookup_elem(map, &key);
}

/* The endpoint owns `addr` and sits behind the interface the packet is on. */
static __always_inline int endpoint_matches(const struct membrane_endpoint_info *ep,
					    struct __sk_buff *ctx)
{
	return ep->ifindex == 0 || ep->ifindex == ctx->ifindex;
}

#endif /* MEMBRANE_BPF_LIB_ENDPOINTS_H */
