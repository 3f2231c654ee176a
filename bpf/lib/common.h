/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Includes, helpers and the load-time knobs (const volatile: set by the loader before
 * load, constant-folded by the verifier).
 */
#ifndef MEMBRANE_BPF_LIB_COMMON_H
#define MEMBRANE_BPF_LIB_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/include/conntrack.h"
#include "bpf/include/drop_reasons.h"
#include "bpf/include/endpoints.h"
#include "bpf/include/events.h"
#include "bpf/include/ipcache.h"
#include "bpf/include/metrics.h"
#include "bpf/include/policy.h"
#include "bpf/include/proxy.h"

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#endif
#ifndef unlikely
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#define MEMBRANE_IDENTITY_HOST	      1
#define MEMBRANE_IDENTITY_WORLD	      2 /* ipcache miss */
#define MEMBRANE_IDENTITY_REMOTE_NODE 6
#define NSEC_PER_SEC		      1000000000ULL

/* Knobs. Defaults here; dataplane::DatapathConfig overrides them before load. */
const volatile __u8 cfg_trace_forward = MEMBRANE_TRACE_NEW;
const volatile __u8 cfg_drop_events = 1;
const volatile __u8 cfg_anti_spoof = 1;
const volatile __u8 cfg_event_wakeup = 1; /* 0: BPF_RB_NO_WAKEUP, consumer busy-polls */
const volatile __u8 cfg_policy_cache = 1;
const volatile __u8 cfg_policy_audit = 0; /* node-wide policy audit mode */
const volatile __u32 cfg_ct_timeout_tcp_syn_s = 60;
const volatile __u32 cfg_ct_timeout_tcp_s = 21600;
const volatile __u32 cfg_ct_timeout_tcp_close_s = 10;
const volatile __u32 cfg_ct_timeout_any_s = 60;
/* Overlay: the node's VXLAN device (external mode), 0 = native routing; the MAC every
 * node's VXLAN device carries (inner destination MAC of encapsulated frames).
 */
const volatile __u32 cfg_tunnel_ifindex = 0;
const volatile __u8 cfg_tunnel_mac[6] = {};

/* Time seam: every timestamp comes from here. */
static __always_inline __u64 membrane_now_ns(void)
{
	return bpf_ktime_get_ns();
}

#endif /* MEMBRANE_BPF_LIB_COMMON_H */
