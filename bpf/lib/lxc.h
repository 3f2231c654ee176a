/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The endpoint pipeline shared by both directions of a pod's host-side veth:
 * parse -> endpoint / anti-spoof -> identities -> conntrack -> policy (NEW and
 * ESTABLISHED only) -> CT create/update -> metrics -> event.
 */
#ifndef MEMBRANE_BPF_LIB_LXC_H
#define MEMBRANE_BPF_LIB_LXC_H

#include "bpf/lib/common.h"
#include "bpf/lib/conntrack.h"
#include "bpf/lib/endpoints.h"
#include "bpf/lib/events.h"
#include "bpf/lib/ipcache.h"
#include "bpf/lib/metrics.h"
#include "bpf/lib/parse.h"
#include "bpf/lib/policy.h"
#include "bpf/lib/proxy.h"

/* Accounts and reports the packet's fate; returns the tc action. */
static __always_inline int lxc_finish(struct membrane_flow_event *ev, __u8 drop_reason, int action)
{
	const int audit = ev->verdict == MEMBRANE_VERDICT_AUDIT;

	/* An audited packet keeps the reason it would have been dropped for (unless a later
	 * step drops it after all).
	 */
	if (!audit || drop_reason)
		ev->drop_reason = drop_reason;
	if (drop_reason)
		ev->verdict = MEMBRANE_VERDICT_DROPPED;
	else if (!ev->verdict)
		ev->verdict = MEMBRANE_VERDICT_FORWARDED;
	metrics_account(&membrane_metrics, ev->direction, drop_reason, ev->pkt_len);
	/* Audited packets are reported like the drops they stand for. */
	if (events_wanted(drop_reason, ev->ct_status) || (audit && cfg_drop_events)) {
		ev->type = MEMBRANE_EVENT_FLOW;
		ev->timestamp_ns = membrane_now_ns();
		events_emit(&membrane_events, ev);
	}
	return drop_reason ? TC_ACT_SHOT : action;
}

static __always_inline int lxc_drop(struct membrane_flow_event *ev, __u8 reason)
{
	return lxc_finish(ev, reason, TC_ACT_SHOT);
}

static __always_inline void lxc_record_policy(struct membrane_flow_event *ev,
					      const struct membrane_policy_verdict *pr, __u8 proto,
					      __u16 port)
{
	ev->match_type = pr->match_type;
	if (pr->match_type == MEMBRANE_MATCH_NONE)
		return;
	ev->policy_identity = pr->identity;
	ev->policy_prefix_len = pr->prefix_len;
	ev->policy_cookie = pr->cookie;
	ev->proxy_port = pr->proxy_port;
	if (pr->prefix_len > 0)
		ev->policy_protocol = proto;
	if (pr->prefix_len > MEMBRANE_POLICY_PROTO_BITS) {
		__u32 bits = pr->prefix_len - MEMBRANE_POLICY_PROTO_BITS;

		ev->policy_port = port & (__u16)(0xffff << (16 - (bits & 0x1f)));
	}
}

/* The endpoint's verdict for (peer, direction, protocol, port), from the decision cache or
 * the endpoint's trie. Returns 0 or MEMBRANE_DROP_NO_CONFIG.
 */
static __always_inline int lxc_policy_lookup4(__u32 endpoint_id, __u32 peer, int egress,
					      const struct pkt4 *p,
					      struct membrane_policy_verdict *pr)
{
	struct membrane_policy_cache_key key = {};
	const struct membrane_policy_verdict *cached;
	const __u32 *gen = NULL;
	void *policy_map;

	if (cfg_policy_cache) {
		gen = bpf_map_lookup_elem(&membrane_policy_gen, &endpoint_id);
		if (gen) {
			key.generation = *gen;
			key.identity = peer;
			key.endpoint_id = endpoint_id;
			key.egress = egress;
			key.protocol = p->tuple.nexthdr;
			key.port = p->policy_port;
			cached = bpf_map_lookup_elem(&membrane_policy_cache, &key);
			if (cached) {
				*pr = *cached;
				return 0;
			}
		}
	}
	/* The generation is read before the policy map: the writer swaps the map, then bumps
	 * the generation, so a decision from the new map may be stored under the old generation
	 * (harmless) but never one from the old map under the new generation.
	 */
	asm volatile("" ::: "memory");
	policy_map = bpf_map_lookup_elem(&membrane_policy, &endpoint_id);
	if (!policy_map)
		return MEMBRANE_DROP_NO_CONFIG;
	policy_can_access4(policy_map, peer, egress, p->tuple.nexthdr, p->policy_port, pr);
	if (gen)
		bpf_map_update_elem(&membrane_policy_cache, &key, pr, BPF_ANY);
	return 0;
}

/* Policy for a NEW or ESTABLISHED forward packet, then CT bookkeeping. */
static __always_inline int lxc_policy4(struct __sk_buff *ctx, struct membrane_flow_event *ev,
				       const struct pkt4 *p, struct ct_result *ct,
				       __u32 endpoint_id, __u16 ep_flags)
{
	struct membrane_policy_verdict pr = {};
	int egress = ev->direction == MEMBRANE_DIR_EGRESS;
	__u32 peer = egress ? ev->dst_identity : ev->src_identity;
	int ret;

	ret = lxc_policy_lookup4(endpoint_id, peer, egress, p, &pr);
	if (ret)
		return lxc_drop(ev, ret);
	lxc_record_policy(ev, &pr, p->tuple.nexthdr, p->policy_port);
	if (pr.drop_reason) {
		/* Policy audit mode (node-wide or the endpoint's): the would-be drop passes and
		 * is reported as AUDIT with its reason (Cilium's policy audit mode).
		 */
		if (!cfg_policy_audit && !(ep_flags & MEMBRANE_ENDPOINT_F_POLICY_AUDIT))
			return lxc_drop(ev, pr.drop_reason);
		ev->verdict = MEMBRANE_VERDICT_AUDIT;
		ev->drop_reason = pr.drop_reason;
	}
	/* Before CT create: a flow no proxy can enforce leaves no connection behind. */
	if (pr.proxy_port) {
		ret = proxy_check4(&membrane_proxy_ports, pr.proxy_port);
		if (ret)
			return lxc_drop(ev, ret);
	}

	if (ct->status == MEMBRANE_CT_NEW) {
		ret = ct_create4(&membrane_ct4, p, ev->src_identity, ev->dst_identity, pr.cookie,
				 pr.proxy_port);
		if (ret)
			return lxc_drop(ev, ret);
	} else if (ct->entry) {
		ct_update(ct->entry, p, ct->status);
	}
	if (pr.proxy_port) {
		ev->verdict = MEMBRANE_VERDICT_REDIRECTED;
		return lxc_finish(ev, 0, proxy_redirect4(ctx, pr.proxy_port));
	}
	return lxc_finish(ev, 0, TC_ACT_OK);
}

static __always_inline int lxc_handle_ipv4(struct __sk_buff *ctx, struct membrane_flow_event *ev)
{
	int egress = ev->direction == MEMBRANE_DIR_EGRESS;
	const struct membrane_endpoint_info *ep;
	struct pkt4 p = {};
	struct ct_result ct;
	int ret;

	ret = parse_ipv4(ctx, egress ? MEMBRANE_CT_EGRESS : MEMBRANE_CT_INGRESS, &p);
	ev->saddr = p.tuple.saddr;
	ev->daddr = p.tuple.daddr;
	ev->sport = p.tuple.sport;
	ev->dport = p.tuple.dport;
	ev->protocol = p.tuple.nexthdr;
	ev->tcp_flags = p.tcp_flags;
	ev->icmp_type = p.icmp_type;
	ev->icmp_code = p.icmp_code;
	if (ret)
		return lxc_drop(ev, ret);

	/* The endpoint this program serves: the source when leaving, the destination when
	 * entering. Leaving with someone else's address is spoofing.
	 */
	ep = endpoint_lookup4(&membrane_endpoints, egress ? p.tuple.saddr : p.tuple.daddr);
	if (!ep || (cfg_anti_spoof && !endpoint_matches(ep, ctx)))
		return lxc_drop(ev,
				egress ? MEMBRANE_DROP_INVALID_SIP : MEMBRANE_DROP_UNKNOWN_TARGET);
	ev->endpoint_id = ep->endpoint_id;
	if (egress) {
		ev->src_identity = ep->sec_identity;
		ev->dst_identity = ipcache_identity4(&membrane_ipcache, p.tuple.daddr);
	} else {
		ev->src_identity = resolve_src_identity4(ctx, p.tuple.saddr);
		ev->dst_identity = ep->sec_identity;
	}

	ct = ct_lookup4(&membrane_ct4, &p);
	ev->ct_status = ct.status;
	switch (ct.status) {
	case MEMBRANE_CT_NEW:
	case MEMBRANE_CT_ESTABLISHED:
		return lxc_policy4(ctx, ev, &p, &ct, ep->endpoint_id, ep->flags);
	case MEMBRANE_CT_REPLY:
	case MEMBRANE_CT_RELATED:
		/* Return traffic of an accepted connection: no policy lookup. */
		if (ct.entry)
			ct_update(ct.entry, &p, ct.status);
		return lxc_finish(ev, 0, TC_ACT_OK);
	default:
		return lxc_drop(ev, MEMBRANE_DROP_UNKNOWN_CT);
	}
}

/* Entry for both programs; `dir` is MEMBRANE_DIR_EGRESS (leaving) or _INGRESS. */
static __always_inline int lxc_handle(struct __sk_buff *ctx, __u8 dir)
{
	struct membrane_flow_event ev = {};

	ev.direction = dir;
	ev.ifindex = ctx->ifindex;
	ev.pkt_len = ctx->len;
	ev.eth_proto = ctx->protocol;
	switch (ctx->protocol) {
	case bpf_htons(ETH_P_IP):
		return lxc_handle_ipv4(ctx, &ev);
	case bpf_htons(ETH_P_ARP):
		return TC_ACT_OK;
	case bpf_htons(ETH_P_IPV6):
		return lxc_drop(&ev, MEMBRANE_DROP_UNKNOWN_L3);
	default:
		return lxc_drop(&ev, MEMBRANE_DROP_UNSUPPORTED_L2);
	}
}

#endif /* MEMBRANE_BPF_LIB_LXC_H */
