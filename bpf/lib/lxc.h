/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The endpoint pipeline shared by both directions of a pod's host-side veth:
 * parse -> revision, endpoint / anti-spoof -> (leaving) service DNAT -> conntrack -> (forward
 * packet of a flow decided under the current revision: done, from the entry) -> identities ->
 * policy (NEW and ESTABLISHED only) -> CT create/update -> metrics -> event.
 */
#ifndef MEMBRANE_BPF_LIB_LXC_H
#define MEMBRANE_BPF_LIB_LXC_H

#include "bpf/lib/common.h"
#include "bpf/lib/conntrack.h"
#include "bpf/lib/endpoints.h"
#include "bpf/lib/events.h"
#include "bpf/lib/ipcache.h"
#include "bpf/lib/lb.h"
#include "bpf/lib/metrics.h"
#include "bpf/lib/parse.h"
#include "bpf/lib/policy.h"
#include "bpf/lib/proxy.h"

/* Accounts and reports the packet's fate; returns the tc action. `notable`: a forwarded packet
 * that changes its connection's TCP state (medium aggregation reports those).
 */
static __always_inline int lxc_report(struct membrane_flow_event *ev, __u8 drop_reason, int action,
				      int notable)
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
	MEMBRANE_PROFILE_STOP(MEMBRANE_STAGE_METRICS);
	/* Audited packets are reported like the drops they stand for. */
	if (events_wanted(drop_reason, ev->ct_status, notable) || (audit && cfg_drop_events)) {
		ev->type = MEMBRANE_EVENT_FLOW;
		ev->timestamp_ns = membrane_now_ns(); /* only records pay for the fine clock */
		events_emit(&membrane_events, ev);
	}
	return drop_reason ? TC_ACT_SHOT : action;
}

static __always_inline int lxc_finish(struct membrane_flow_event *ev, __u8 drop_reason, int action)
{
	return lxc_report(ev, drop_reason, action, 0);
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

/* lxc_established4(): the entry cannot decide, take the full path (no tc action is < 0 but
 * TC_ACT_UNSPEC, which these programs never return).
 */
#define LXC_FULL_PATH (-100)

/* Per-packet state shared by the stages. */
struct lxc_state {
	struct pkt4 p;
	struct ct_result ct;
	__u64 now;
	__u32 revision;	   /* membrane_revision, read before the endpoint, ipcache and policy */
	__u8 vni_identity; /* full path: the source identity came from the overlay mark */
	__u16 rev_nat;	   /* leaving: the service this packet was DNATed for (lb4_local) */
};

/* TCP flags this packet adds to what its direction of the connection has shown. */
static __always_inline int lxc_tcp_state_change(const struct lxc_state *st)
{
	const struct membrane_ct_entry *e = st->ct.entry;
	__u8 seen;

	if (cfg_trace_forward != MEMBRANE_TRACE_FLAGS || !e)
		return 0;
	seen = st->ct.status == MEMBRANE_CT_ESTABLISHED ? e->tx_flags_seen : e->rx_flags_seen;
	return (st->p.tcp_flags & ~seen & (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST)) != 0;
}

/* Accepted ESTABLISHED / REPLY / RELATED packet: account it in the entry, report it. */
static __always_inline int lxc_accept_ct(struct __sk_buff *ctx, struct membrane_flow_event *ev,
					 struct lxc_state *st, __u16 proxy_port)
{
	int notable = lxc_tcp_state_change(st);

	/* The verifier does not tie the status to the entry: every user checks the pointer. */
	if (!st->ct.entry)
		return lxc_drop(ev, MEMBRANE_DROP_UNKNOWN_CT);
	ct_update(st->ct.entry, &st->p, st->ct.status, st->now);
	MEMBRANE_PROFILE_STOP(MEMBRANE_STAGE_CT_WRITE);
	if (proxy_port) {
		ev->verdict = MEMBRANE_VERDICT_REDIRECTED;
		return lxc_report(ev, 0, proxy_redirect4(ctx, proxy_port), notable);
	}
	return lxc_report(ev, 0, TC_ACT_OK, notable);
}

/* Fast path: a forward packet of a flow whose entry was decided under the current revision.
 * The entry holds the verdict (allow, maybe redirect) and the identities, so neither the
 * ipcache nor the policy is consulted. Returns LXC_FULL_PATH when the entry cannot decide.
 */
static __always_inline int lxc_established4(struct __sk_buff *ctx, struct membrane_flow_event *ev,
					    struct lxc_state *st, int egress)
{
	const struct membrane_ct_entry *e = st->ct.entry;
	struct membrane_policy_verdict pr = {};
	__u32 mark = ctx->mark;
	int ret;

	if (!e || st->revision == 0 || e->revision != st->revision)
		return LXC_FULL_PATH;
	/* Entering: the source identity must come from where the full path would take it (the
	 * overlay's VNI in the mark, or the ipcache) and, from the VNI, be the decided one.
	 */
	if (!egress) {
		int vni = (mark & MEMBRANE_MARK_MAGIC_MASK) == MEMBRANE_MARK_MAGIC_IDENTITY;

		if (vni != !!(e->flags & MEMBRANE_CT_F_VNI_IDENTITY))
			return LXC_FULL_PATH;
		if (vni) {
			if ((mark & MEMBRANE_MARK_IDENTITY_MASK) != e->src_identity)
				return LXC_FULL_PATH;
			ctx->mark = 0;
		}
	}
	ev->src_identity = e->src_identity;
	ev->dst_identity = e->dst_identity;
	if (cfg_profile_stop == MEMBRANE_STAGE_IPCACHE || cfg_profile_stop == MEMBRANE_STAGE_POLICY)
		return TC_ACT_OK;
	pr.match_type = e->match_type;
	pr.prefix_len = e->prefix_len;
	pr.identity = e->match_type == MEMBRANE_MATCH_L3_ONLY ||
			      e->match_type == MEMBRANE_MATCH_L3_L4 ||
			      e->match_type == MEMBRANE_MATCH_L3_PROTO
			  ? (egress ? e->dst_identity : e->src_identity)
			  : 0;
	pr.cookie = e->cookie;
	pr.proxy_port = e->proxy_port;
	lxc_record_policy(ev, &pr, st->p.tuple.nexthdr, st->p.policy_port);
	/* Per packet, as on the full path: a proxy that went away drops its flows at once. */
	if (e->proxy_port) {
		ret = proxy_check4(&membrane_proxy_ports, e->proxy_port, egress);
		if (ret)
			return lxc_drop(ev, ret);
	}
	return lxc_accept_ct(ctx, ev, st, e->proxy_port);
}

/* Full path for a NEW or ESTABLISHED forward packet: policy, then CT create or re-decide. */
static __always_inline int lxc_policy4(struct __sk_buff *ctx, struct membrane_flow_event *ev,
				       struct lxc_state *st, __u32 endpoint_id, __u16 ep_flags)
{
	struct membrane_policy_verdict pr = {};
	int egress = ev->direction == MEMBRANE_DIR_EGRESS;
	__u32 peer = egress ? ev->dst_identity : ev->src_identity;
	struct ct_decision d = {};
	int ret;

	ret = lxc_policy_lookup4(endpoint_id, peer, egress, &st->p, &pr);
	if (ret)
		return lxc_drop(ev, ret);
	MEMBRANE_PROFILE_STOP(MEMBRANE_STAGE_POLICY);
	lxc_record_policy(ev, &pr, st->p.tuple.nexthdr, st->p.policy_port);
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
		ret = proxy_check4(&membrane_proxy_ports, pr.proxy_port, egress);
		if (ret)
			return lxc_drop(ev, ret);
	}

	d.src_identity = ev->src_identity;
	d.dst_identity = ev->dst_identity;
	d.cookie = pr.cookie;
	d.proxy_port = pr.proxy_port;
	d.match_type = pr.match_type;
	d.prefix_len = pr.prefix_len;
	d.revision = st->revision;
	d.vni_identity = st->vni_identity;
	d.rev_nat_index = st->rev_nat;
	if (st->ct.status == MEMBRANE_CT_NEW) {
		ret = ct_create4(&membrane_ct4, &st->p, &d, st->now);
		if (ret)
			return lxc_drop(ev, ret);
		MEMBRANE_PROFILE_STOP(MEMBRANE_STAGE_CT_WRITE);
		if (pr.proxy_port) {
			ev->verdict = MEMBRANE_VERDICT_REDIRECTED;
			return lxc_finish(ev, 0, proxy_redirect4(ctx, pr.proxy_port));
		}
		return lxc_finish(ev, 0, TC_ACT_OK);
	}
	if (!st->ct.entry)
		return lxc_drop(ev, MEMBRANE_DROP_UNKNOWN_CT);
	ct_redecide(st->ct.entry, &d);
	return lxc_accept_ct(ctx, ev, st, pr.proxy_port);
}

/* Peer identities from the ipcache (and the overlay mark) for the full path. */
static __always_inline void lxc_identities4(struct __sk_buff *ctx, struct membrane_flow_event *ev,
					    struct lxc_state *st,
					    const struct membrane_endpoint_info *ep, int egress)
{
	if (egress) {
		ev->src_identity = ep->sec_identity;
		ev->dst_identity = ipcache_identity4(&membrane_ipcache, st->p.tuple.daddr);
	} else {
		st->vni_identity =
		    (ctx->mark & MEMBRANE_MARK_MAGIC_MASK) == MEMBRANE_MARK_MAGIC_IDENTITY;
		ev->src_identity = resolve_src_identity4(ctx, st->p.tuple.saddr);
		ev->dst_identity = ep->sec_identity;
	}
}

/* Return traffic of an accepted connection: no policy, identities from the entry (the
 * reverse of the ones the connection was accepted with).
 */
static __always_inline int lxc_reply4(struct __sk_buff *ctx, struct membrane_flow_event *ev,
				      struct lxc_state *st, int egress)
{
	const struct membrane_ct_entry *e = st->ct.entry;
	int ret;

	if (!e)
		return lxc_drop(ev, MEMBRANE_DROP_UNKNOWN_CT);
	ev->src_identity = e->dst_identity;
	ev->dst_identity = e->src_identity;
	if (!egress)
		ev->src_identity = resolve_src_identity_mark(ctx, ev->src_identity);
	/* Entering the client of a service flow: the source back to VIP:port. */
	if (!egress && e->rev_nat_index) {
		ret = lb4_rev_nat(ctx, &st->p, e->rev_nat_index);
		if (ret)
			return lxc_drop(ev, ret);
	}
	return lxc_accept_ct(ctx, ev, st, 0);
}

static __always_inline void lxc_event_tuple(struct membrane_flow_event *ev, const struct pkt4 *p)
{
	ev->saddr = p->tuple.saddr;
	ev->daddr = p->tuple.daddr;
	ev->sport = p->tuple.sport;
	ev->dport = p->tuple.dport;
	ev->protocol = p->tuple.nexthdr;
	ev->tcp_flags = p->tcp_flags;
	ev->icmp_type = p->icmp_type;
	ev->icmp_code = p->icmp_code;
}

static __always_inline int lxc_handle_ipv4(struct __sk_buff *ctx, struct membrane_flow_event *ev)
{
	int egress = ev->direction == MEMBRANE_DIR_EGRESS;
	const struct membrane_endpoint_info *ep;
	struct lxc_state st = {};
	int ret;

	ret = parse_ipv4(ctx, egress ? MEMBRANE_CT_EGRESS : MEMBRANE_CT_INGRESS, &st.p);
	lxc_event_tuple(ev, &st.p);
	if (ret)
		return lxc_drop(ev, ret);
	MEMBRANE_PROFILE_STOP(MEMBRANE_STAGE_PARSE);

	/* Before the endpoint, ipcache and policy maps: their writers bump the revision after
	 * writing, so a decision from old map contents is never stored under the new revision.
	 */
	st.revision = ct_revision();
	asm volatile("" ::: "memory");
	/* The endpoint this program serves: the source when leaving, the destination when
	 * entering. Leaving with someone else's address is spoofing.
	 */
	ep = endpoint_lookup4(&membrane_endpoints, egress ? st.p.tuple.saddr : st.p.tuple.daddr);
	if (!ep || (cfg_anti_spoof && !endpoint_matches(ep, ctx)))
		return lxc_drop(ev,
				egress ? MEMBRANE_DROP_INVALID_SIP : MEMBRANE_DROP_UNKNOWN_TARGET);
	ev->endpoint_id = ep->endpoint_id;
	MEMBRANE_PROFILE_STOP(MEMBRANE_STAGE_ENDPOINT);

	st.now = membrane_ct_now_ns();
	/* Services: DNAT before conntrack, so everything after sees the backend. */
	if (egress) {
		ret = lb4_local(ctx, &st.p, st.now, &st.rev_nat);
		if (ret)
			return lxc_drop(ev, ret);
		if (st.rev_nat)
			lxc_event_tuple(ev, &st.p);
	}
	st.ct = ct_lookup4(&membrane_ct4, &st.p, st.now);
	ev->ct_status = st.ct.status;
	MEMBRANE_PROFILE_STOP(MEMBRANE_STAGE_CT_LOOKUP);
	switch (st.ct.status) {
	case MEMBRANE_CT_ESTABLISHED:
		ret = lxc_established4(ctx, ev, &st, egress);
		if (ret != LXC_FULL_PATH)
			return ret;
		/* fall through: decided under an older revision */
	case MEMBRANE_CT_NEW:
		lxc_identities4(ctx, ev, &st, ep, egress);
		MEMBRANE_PROFILE_STOP(MEMBRANE_STAGE_IPCACHE);
		return lxc_policy4(ctx, ev, &st, ep->endpoint_id, ep->flags);
	case MEMBRANE_CT_REPLY:
		return lxc_reply4(ctx, ev, &st, egress);
	case MEMBRANE_CT_RELATED:
		lxc_identities4(ctx, ev, &st, ep, egress);
		return lxc_accept_ct(ctx, ev, &st, 0);
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
