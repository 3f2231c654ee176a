/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Conntrack: lookup classifies a packet NEW / ESTABLISHED / REPLY / RELATED without
 * changing state; ct_update refreshes the entry only once the packet is accepted;
 * ct_create4 inserts the forward entry of a NEW flow.
 */
#ifndef MEMBRANE_BPF_LIB_CONNTRACK_H
#define MEMBRANE_BPF_LIB_CONNTRACK_H

#include "bpf/lib/parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MEMBRANE_CT_MAP_SIZE);
	__type(key, struct membrane_ct_tuple);
	__type(value, struct membrane_ct_entry);
} membrane_ct4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} membrane_revision SEC(".maps");

/* The datapath revision (see MEMBRANE_REVISION_KEY); 0 when unreadable, which no entry may
 * be reused under.
 */
static __always_inline __u32 ct_revision(void)
{
	__u32 key = MEMBRANE_REVISION_KEY;
	const __u32 *rev = bpf_map_lookup_elem(&membrane_revision, &key);

	return rev ? *rev : 0;
}

/* The decision a NEW flow's entry records. */
struct ct_decision {
	__u32 src_identity;
	__u32 dst_identity;
	__u32 cookie;
	__u32 revision;
	__u16 proxy_port;
	__u8 match_type;
	__u8 prefix_len;
	__u8 vni_identity;   /* src_identity came from the overlay mark */
	__u16 rev_nat_index; /* service flow (bpf/lib/lb.h): replies get VIP:port back */
};

struct ct_result {
	struct membrane_ct_entry *entry; /* NULL for NEW */
	__u8 status;			 /* enum membrane_ct_status */
};

static __always_inline void ct_tuple_reverse(struct membrane_ct_tuple *t)
{
	__be32 addr = t->daddr;
	__be16 port = t->dport;

	t->daddr = t->saddr;
	t->saddr = addr;
	t->dport = t->sport;
	t->sport = port;
	t->flags ^= 1; /* MEMBRANE_CT_EGRESS <-> MEMBRANE_CT_INGRESS */
}

static __always_inline struct membrane_ct_entry *ct_find(void *map, struct membrane_ct_tuple *t,
							 __u64 now)
{
	struct membrane_ct_entry *e = bpf_map_lookup_elem(map, t);

	if (e && e->expires_ns <= now)
		return NULL; /* expired (a zero timeout expires at once); ct_create4 overwrites it
			      */
	return e;
}

/* A TCP SYN on a closing connection starts a new one (port reuse). */
static __always_inline int ct_tcp_reopened(const struct pkt4 *p, const struct membrane_ct_entry *e)
{
	return p->tuple.nexthdr == IPPROTO_TCP && (p->tcp_flags & TCP_FLAG_SYN) &&
	       !(p->tcp_flags & TCP_FLAG_ACK) &&
	       (e->flags & (MEMBRANE_CT_F_TX_CLOSING | MEMBRANE_CT_F_RX_CLOSING));
}

static __always_inline struct ct_result ct_lookup4(void *map, const struct pkt4 *p, __u64 now)
{
	struct ct_result r = {.entry = NULL, .status = MEMBRANE_CT_NEW};
	struct membrane_ct_tuple t = p->tuple;

	r.entry = ct_find(map, &t, now);
	if (r.entry) {
		if (ct_tcp_reopened(p, r.entry)) {
			r.entry = NULL;
			return r;
		}
		r.status = MEMBRANE_CT_ESTABLISHED;
		return r;
	}
	ct_tuple_reverse(&t);
	r.entry = ct_find(map, &t, now);
	if (r.entry) {
		r.status = MEMBRANE_CT_REPLY;
		return r;
	}
	if (p->icmp_error) {
		/* The quoted packet belongs to a connection seen by the other program direction
		 * (an error about a forward packet), or by this one (about a reply).
		 */
		t = p->inner;
		t.flags = p->tuple.flags ^ 1;
		r.entry = ct_find(map, &t, now);
		if (!r.entry) {
			ct_tuple_reverse(&t);
			r.entry = ct_find(map, &t, now);
		}
		if (r.entry)
			r.status = MEMBRANE_CT_RELATED;
	}
	return r;
}

static __always_inline __u64 ct_lifetime_ns(__u8 proto, __u8 flags)
{
	if (proto != IPPROTO_TCP)
		return (__u64)cfg_ct_timeout_any_s * NSEC_PER_SEC;
	if (flags & (MEMBRANE_CT_F_TX_CLOSING | MEMBRANE_CT_F_RX_CLOSING))
		return (__u64)cfg_ct_timeout_tcp_close_s * NSEC_PER_SEC;
	if (flags & MEMBRANE_CT_F_SEEN_NON_SYN)
		return (__u64)cfg_ct_timeout_tcp_s * NSEC_PER_SEC;
	return (__u64)cfg_ct_timeout_tcp_syn_s * NSEC_PER_SEC;
}

static __always_inline __u8 ct_tcp_flags(const struct pkt4 *p, __u8 flags, int reply)
{
	if (p->tuple.nexthdr != IPPROTO_TCP)
		return flags;
	if (!(p->tcp_flags & TCP_FLAG_SYN))
		flags |= MEMBRANE_CT_F_SEEN_NON_SYN;
	if (p->tcp_flags & TCP_FLAG_RST)
		flags |= MEMBRANE_CT_F_TX_CLOSING | MEMBRANE_CT_F_RX_CLOSING;
	if (p->tcp_flags & TCP_FLAG_FIN)
		flags |= reply ? MEMBRANE_CT_F_RX_CLOSING : MEMBRANE_CT_F_TX_CLOSING;
	return flags;
}

/* Accounts an accepted ESTABLISHED / REPLY / RELATED packet and refreshes the lifetime. */
static __always_inline void ct_update(struct membrane_ct_entry *e, const struct pkt4 *p,
				      __u8 status, __u64 now)
{
	int reply = status != MEMBRANE_CT_ESTABLISHED;
	__u8 flags = e->flags;

	if (status != MEMBRANE_CT_RELATED)
		flags = ct_tcp_flags(p, flags, reply);
	if (flags != e->flags)
		e->flags = flags;
	if (reply) {
		__sync_fetch_and_add(&e->rx_packets, 1);
		__sync_fetch_and_add(&e->rx_bytes, p->len);
		e->rx_flags_seen |= p->tcp_flags;
	} else {
		__sync_fetch_and_add(&e->tx_packets, 1);
		__sync_fetch_and_add(&e->tx_bytes, p->len);
		e->tx_flags_seen |= p->tcp_flags;
	}
	e->expires_ns = now + ct_lifetime_ns(p->tuple.nexthdr, flags);
}

/* Records a fresh decision for an existing entry (an ESTABLISHED packet re-checked by the full
 * path after a revision change). Identities first, revision last: a concurrent fast path
 * that sees the new revision also sees the new identities on x86-64.
 */
static __always_inline void ct_redecide(struct membrane_ct_entry *e, const struct ct_decision *d)
{
	e->src_identity = d->src_identity;
	e->dst_identity = d->dst_identity;
	e->cookie = d->cookie;
	e->proxy_port = d->proxy_port;
	e->match_type = d->match_type;
	e->prefix_len = d->prefix_len;
	e->flags = (e->flags & ~(MEMBRANE_CT_F_PROXY_REDIRECT | MEMBRANE_CT_F_VNI_IDENTITY)) |
		   (d->proxy_port ? MEMBRANE_CT_F_PROXY_REDIRECT : 0) |
		   (d->vni_identity ? MEMBRANE_CT_F_VNI_IDENTITY : 0);
	asm volatile("" ::: "memory");
	e->revision = d->revision;
}

/* Inserts the forward entry of a NEW flow. Returns 0 or a drop reason. */
static __always_inline int ct_create4(void *map, const struct pkt4 *p, const struct ct_decision *d,
				      __u64 now)
{
	struct membrane_ct_entry e = {};

	e.flags = ct_tcp_flags(p, 0, 0);
	if (d->proxy_port)
		e.flags |= MEMBRANE_CT_F_PROXY_REDIRECT;
	if (d->vni_identity)
		e.flags |= MEMBRANE_CT_F_VNI_IDENTITY;
	e.tx_packets = 1;
	e.tx_bytes = p->len;
	e.tx_flags_seen = p->tcp_flags;
	e.src_identity = d->src_identity;
	e.dst_identity = d->dst_identity;
	e.cookie = d->cookie;
	e.proxy_port = d->proxy_port;
	e.match_type = d->match_type;
	e.prefix_len = d->prefix_len;
	e.revision = d->revision;
	e.rev_nat_index = d->rev_nat_index;
	e.expires_ns = now + ct_lifetime_ns(p->tuple.nexthdr, e.flags);
	if (bpf_map_update_elem(map, &p->tuple, &e, BPF_ANY) < 0)
		return MEMBRANE_DROP_CT_CREATE_FAILED;
	return 0;
}

#endif /* MEMBRANE_BPF_LIB_CONNTRACK_H */
