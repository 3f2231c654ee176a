/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* L7 proxy redirect. There is no proxy yet: a redirected packet is marked the way Cilium
 * marks packets for its proxy (MARK_MAGIC_TO_PROXY | port << 16) and passed on, so the
 * decision is observable (events, skb->mark) until the proxy issue lands.
 */
#ifndef MEMBRANE_BPF_LIB_PROXY_H
#define MEMBRANE_BPF_LIB_PROXY_H

#include "bpf/lib/common.h"

#define MEMBRANE_MARK_MAGIC_TO_PROXY 0x0200

static __always_inline int proxy_redirect4(struct __sk_buff *ctx, __u16 proxy_port)
{
	ctx->mark = MEMBRANE_MARK_MAGIC_TO_PROXY | ((__u32)proxy_port << 16);
	return TC_ACT_OK;
}

#endif /* MEMBRANE_BPF_LIB_PROXY_H */
