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
/* Benchmarks only: return TC_ACT_OK right after stage N (MEMBRANE_STAGE_*) so test_run
 * deltas between consecutive N give a per-stage cost. 0 (production) is constant-folded by
 * the verifier and the checks vanish from the loaded program.
 */
const volatile __u8 cfg_profile_stop = 0;
/* Overlay: the node's VXLAN device (external mode), 0 = native routing; the MAC every
 * node's VXLAN device carries (inner destination MAC of encapsulated frames).
 */
const volatile __u32 cfg_tunnel_ifindex = 0;
const volatile __u8 cfg_tunnel_mac[6] = {};

#define MEMBRANE_STAGE_PARSE	 1 /* parse */
#define MEMBRANE_STAGE_ENDPOINT	 2 /* endpoint lookup, anti-spoof */
#define MEMBRANE_STAGE_CT_LOOKUP 3 /* revision and conntrack lookup */
#define MEMBRANE_STAGE_IPCACHE	 4 /* peer identity (ipcache LPM); fast path: the revision check */
#define MEMBRANE_STAGE_POLICY	 5 /* policy decision */
#define MEMBRANE_STAGE_CT_WRITE	 6 /* conntrack create / update */
#define MEMBRANE_STAGE_METRICS	 7 /* per-CPU counters */
#define MEMBRANE_PROFILE_STOP(stage)                                                               \
	do {                                                                                       \
		if (cfg_profile_stop == (stage))                                                   \
			return TC_ACT_OK;                                                          \
	} while (0)

/* Time seam: every timestamp comes from here. */
static __always_inline __u64 membrane_now_ns(void)
{
	return bpf_ktime_get_ns();
}

/* Conntrack deadlines: CLOCK_MONOTONIC at tick resolution (the coarse clock reads a variable,
 * no clocksource). Lags membrane_now_ns() by less than a tick, so entries live up to a tick
 * longer than their timeout; timeouts are seconds.
 */
static __always_inline __u64 membrane_ct_now_ns(void)
{
	return bpf_ktime_get_coarse_ns();
}

#endif /* MEMBRANE_BPF_LIB_COMMON_H */
