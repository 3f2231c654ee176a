/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* ipcache: address -> identity (cilium_ipcache_v2). A miss is "world". */
#ifndef MEMBRANE_BPF_LIB_IPCACHE_H
#define MEMBRANE_BPF_LIB_IPCACHE_H

#include "bpf/lib/common.h"

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MEMBRANE_IPCACHE_MAP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__type(key, struct membrane_ipcache_key);
	__type(value, struct membrane_ipcache_info);
} membrane_ipcache SEC(".maps");

static __always_inline const struct membrane_ipcache_info *ipcache_lookup4(void *map, __be32 addr)
{
	struct membrane_ipcache_key key = {
	    .prefixlen = MEMBRANE_IPCACHE_BASE_PREFIX + 32,
	    .family = MEMBRANE_FAMILY_IPV4,
	    .ip4 = addr,
	};

	return bpf_map_lookup_elem(map, &key);
}

static __always_inline __u32 ipcache_identity4(void *map, __be32 addr)
{
	const struct membrane_ipcache_info *info = ipcache_lookup4(map, addr);

	return info ? info->sec_identity : MEMBRANE_IDENTITY_WORLD;
}

/* The VNI identity the overlay program left in the mark, consumed (cleared) here; `fallback`
 * when the packet did not come through the overlay.
 */
static __always_inline __u32 resolve_src_identity_mark(struct __sk_buff *ctx, __u32 fallback)
{
	__u32 mark = ctx->mark;

	if ((mark & MEMBRANE_MARK_MAGIC_MASK) == MEMBRANE_MARK_MAGIC_IDENTITY) {
		ctx->mark = 0;
		return mark & MEMBRANE_MARK_IDENTITY_MASK;
	}
	return fallback;
}

/* Source identity of a packet entering an endpoint: from the tunnel key (via the mark) when
 * it came through the overlay, else from the ipcache.
 */
static __always_inline __u32 resolve_src_identity4(struct __sk_buff *ctx, __be32 saddr)
{
	__u32 mark = ctx->mark;

	if ((mark & MEMBRANE_MARK_MAGIC_MASK) == MEMBRANE_MARK_MAGIC_IDENTITY) {
		ctx->mark = 0;
		return mark & MEMBRANE_MARK_IDENTITY_MASK;
	}
	return ipcache_identity4(&membrane_ipcache, saddr);
}

#endif /* MEMBRANE_BPF_LIB_IPCACHE_H */
