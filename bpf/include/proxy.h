/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Proxy ports map ABI: L7 proxy port -> whether a proxy listens there. A policy entry with a
 * proxy port redirects to that port; with no entry here (or one without
 * MEMBRANE_PROXY_F_LISTENING) nothing would enforce the L7 rules, so the packet is dropped
 * with MEMBRANE_DROP_PROXY_LOOKUP_FAILED instead of passing: fail closed.
 */
#ifndef MEMBRANE_BPF_INCLUDE_PROXY_H
#define MEMBRANE_BPF_INCLUDE_PROXY_H

#include <linux/types.h>

/* 4 bytes. */
struct membrane_proxy_key {
	__u16 port; /* host order (as membrane_policy_verdict.proxy_port) */
	__u16 pad;
};

#define MEMBRANE_PROXY_F_LISTENING 0x1

/* 8 bytes. */
struct membrane_proxy_info {
	__u32 ifindex; /* where the proxy listens (0 = the node's stack); reported only */
	__u8 flags;    /* MEMBRANE_PROXY_F_* */
	__u8 pad[3];
};

#define MEMBRANE_PROXY_PORTS_SIZE 256

#endif /* MEMBRANE_BPF_INCLUDE_PROXY_H */
