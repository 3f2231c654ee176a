// SPDX-License-Identifier: Apache-2.0
// The kernel ABI structs of bpf/include/, with their layout pinned: if a field moves on the
// BPF side, the C++ build fails here instead of misreading maps at run time.
#pragma once

#include <linux/types.h>

#include <cstddef>

extern "C" {
#include "bpf/include/conntrack.h"
#include "bpf/include/drop_reasons.h"
#include "bpf/include/endpoints.h"
#include "bpf/include/events.h"
#include "bpf/include/ipcache.h"
#include "bpf/include/lb.h"
#include "bpf/include/metrics.h"
#include "bpf/include/policy.h"
#include "bpf/include/proxy.h"
}

namespace membrane::dataplane {

using PolicyKey = membrane_policy_key;
using PolicyEntry = membrane_policy_entry;
using IpcacheKey = membrane_ipcache_key;
using IpcacheInfo = membrane_ipcache_info;
using EndpointKey = membrane_endpoint_key;
using EndpointInfo = membrane_endpoint_info;
using CtTuple = membrane_ct_tuple;
using CtEntry = membrane_ct_entry;
using MetricsValue = membrane_metrics_value;
using FlowEvent = membrane_flow_event;
using ProxyKey = membrane_proxy_key;
using ProxyInfo = membrane_proxy_info;
using LbKey = membrane_lb4_key;
using LbService = membrane_lb4_service;
using LbBackendInfo = membrane_lb4_backend;
using LbRevNat = membrane_lb4_reverse_nat;
using LbAffinityKey = membrane_lb4_affinity_key;
using LbAffinityVal = membrane_lb_affinity_val;

static_assert(sizeof(PolicyKey) == 12);
static_assert(offsetof(PolicyKey, sec_label) == 4);
static_assert(offsetof(PolicyKey, egress) == 8);
static_assert(offsetof(PolicyKey, protocol) == 9);
static_assert(offsetof(PolicyKey, dport) == 10);
static_assert(MEMBRANE_POLICY_FULL_PREFIX == 8 * (sizeof(PolicyKey) - 4));
static_assert(sizeof(PolicyEntry) == 12);
static_assert(offsetof(PolicyEntry, deny) == 2);
static_assert(offsetof(PolicyEntry, lpm_prefix_length) == 3);
static_assert(offsetof(PolicyEntry, precedence) == 4);
static_assert(offsetof(PolicyEntry, cookie) == 8);

static_assert(sizeof(IpcacheKey) == 24);
static_assert(offsetof(IpcacheKey, family) == 7);
static_assert(offsetof(IpcacheKey, ip4) == 8);
static_assert(sizeof(IpcacheInfo) == 12);
static_assert(offsetof(IpcacheInfo, tunnel_endpoint) == 4);
static_assert(offsetof(IpcacheInfo, flags) == 9);

static_assert(sizeof(EndpointKey) == 20);
static_assert(offsetof(EndpointKey, family) == 16);
static_assert(sizeof(EndpointInfo) == 32);
static_assert(offsetof(EndpointInfo, endpoint_id) == 4);
static_assert(offsetof(EndpointInfo, sec_identity) == 8);
static_assert(offsetof(EndpointInfo, mac) == 12);

static_assert(sizeof(CtTuple) == 16);
static_assert(offsetof(CtTuple, dport) == 8);
static_assert(offsetof(CtTuple, nexthdr) == 12);
static_assert(offsetof(CtTuple, flags) == 13);
static_assert(sizeof(CtEntry) == 72);
static_assert(offsetof(CtEntry, src_identity) == 40);
static_assert(offsetof(CtEntry, proxy_port) == 52);
static_assert(offsetof(CtEntry, flags) == 54);
static_assert(offsetof(CtEntry, match_type) == 57);
static_assert(offsetof(CtEntry, prefix_len) == 58);
static_assert(offsetof(CtEntry, revision) == 60);
static_assert(offsetof(CtEntry, backend_id) == 64);
static_assert(offsetof(CtEntry, rev_nat_index) == 68);

static_assert(sizeof(MetricsValue) == 16);

static_assert(sizeof(ProxyKey) == 4);
static_assert(offsetof(ProxyKey, port) == 0);
static_assert(sizeof(ProxyInfo) == 8);
static_assert(offsetof(ProxyInfo, flags) == 4);

static_assert(sizeof(LbKey) == 12);
static_assert(offsetof(LbKey, backend_slot) == 6);
static_assert(offsetof(LbKey, proto) == 8);
static_assert(sizeof(LbService) == 16);
static_assert(offsetof(LbService, count) == 8);
static_assert(offsetof(LbService, rev_nat_index) == 10);
static_assert(offsetof(LbService, flags) == 12);
static_assert(offsetof(LbService, algorithm) == 13);
static_assert(sizeof(LbBackendInfo) == 8);
static_assert(offsetof(LbBackendInfo, state) == 7);
static_assert(sizeof(LbRevNat) == 8);
static_assert(sizeof(LbAffinityKey) == 8);
static_assert(sizeof(LbAffinityVal) == 16);
static_assert(offsetof(LbAffinityVal, backend_id) == 8);

static_assert(sizeof(FlowEvent) == 64);
static_assert(offsetof(FlowEvent, verdict) == 9);
static_assert(offsetof(FlowEvent, endpoint_id) == 14);
static_assert(offsetof(FlowEvent, src_identity) == 20);
static_assert(offsetof(FlowEvent, saddr) == 28);
static_assert(offsetof(FlowEvent, protocol) == 40);
static_assert(offsetof(FlowEvent, pkt_len) == 44);
static_assert(offsetof(FlowEvent, policy_identity) == 48);
static_assert(offsetof(FlowEvent, policy_cookie) == 56);
static_assert(offsetof(FlowEvent, eth_proto) == 62);

}  // namespace membrane::dataplane
