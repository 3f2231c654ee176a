/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Service load balancing in the pod's egress path (kube-proxy replacement, Cilium's
 * lb4_local / lb4_rev_nat): a packet to a service VIP:port is DNATed to a backend before
 * conntrack, so conntrack, the ipcache and the policy all see the backend. A service
 * conntrack entry (tuple flags MEMBRANE_CT_SERVICE, the tuple as the client sent it) pins the
 * flow to its backend; the forward entry on the translated tuple carries the rev-NAT index so
 * replies entering the client get their source rewritten back to VIP:port. Maps and layout:
 * bpf/include/lb.h.
 */
#ifndef MEMBRANE_BPF_LIB_LB_H
#define MEMBRANE_BPF_LIB_LB_H

#include "bpf/include/lb.h"
#include "bpf/lib/conntrack.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MEMBRANE_LB_SERVICES_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__type(key, struct membrane_lb4_key);
	__type(value, struct membrane_lb4_service);
} membrane_lb4_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MEMBRANE_LB_BACKENDS_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__type(key, __u32);
	__type(value, struct membrane_lb4_backend);
} membrane_lb4_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MEMBRANE_LB_REVNAT_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__type(key, __u16);
	__type(value, struct membrane_lb4_reverse_nat);
} membrane_lb4_reverse_nat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MEMBRANE_LB_AFFINITY_SIZE);
	__type(key, struct membrane_lb4_affinity_key);
	__type(value, struct membrane_lb_affinity_val);
} membrane_lb4_affinity SEC(".maps");

/* Maglev table size (prime), a load-time knob: DatapathConfig::maglev_table_size. */
const volatile __u32 cfg_lb_maglev_table_size = MEMBRANE_LB_MAGLEV_TABLE_SIZE;

/* Inner Maglev table template (sizes, not __type(): see membrane_policy_inner).
 * BPF_F_INNER_MAP: the kernel then accepts inner arrays of another size than the template's,
 * so the table size needs no recompile.
 */
struct membrane_lb_maglev_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MEMBRANE_LB_MAGLEV_TABLE_SIZE);
	__uint(map_flags, BPF_F_RDONLY_PROG | BPF_F_INNER_MAP);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, MEMBRANE_LB_MAGLEV_SIZE);
	__type(key, __u32);
	__array(values, struct membrane_lb_maglev_inner);
} membrane_lb4_maglev SEC(".maps");

#define LB_TCP_CSUM_OFF 16
#define LB_UDP_CSUM_OFF 6

/* The flow's hash for Maglev: every packet of a 5-tuple picks the same slot. */
static __always_inline __u32 lb4_hash(const struct membrane_ct_tuple *t)
{
	__u32 h = t->saddr * 0x9e3779b1u;

	h ^= t->daddr + 0x7f4a7c15u + (h << 6) + (h >> 2);
	h ^= (((__u32)t->sport << 16) | t->dport) + 0x7f4a7c15u + (h << 6) + (h >> 2);
	h ^= t->nexthdr + 0x7f4a7c15u + (h << 6) + (h >> 2);
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h;
}

/* The backend a NEW flow gets (0: none): the client's affinity entry while it is fresh and
 * its backend active, else Maglev by the 5-tuple hash or a random slot. Slots and Maglev
 * tables hold active backends only.
 */
static __always_inline __u32 lb4_pick(const struct membrane_lb4_service *svc,
				      const struct membrane_lb4_key *key, const struct pkt4 *p,
				      __u64 now)
{
	struct membrane_lb4_key slot_key = *key;
	const struct membrane_lb4_service *slot;
	__u32 rev = svc->rev_nat_index;

	if (svc->count == 0)
		return 0;
	if (svc->flags & MEMBRANE_LB_F_AFFINITY) {
		struct membrane_lb4_affinity_key ak = {.client = p->tuple.saddr,
						       .rev_nat_index = svc->rev_nat_index};
		const struct membrane_lb_affinity_val *av;
		const struct membrane_lb4_backend *be;

		av = bpf_map_lookup_elem(&membrane_lb4_affinity, &ak);
		if (av && now - av->last_used_ns <= (__u64)svc->affinity_timeout * NSEC_PER_SEC) {
			__u32 id = av->backend_id;

			be = bpf_map_lookup_elem(&membrane_lb4_backends, &id);
			if (be && be->state == MEMBRANE_LB_BACKEND_ACTIVE)
				return id;
		}
	}
	if (svc->algorithm == MEMBRANE_LB_ALG_MAGLEV) {
		void *table = bpf_map_lookup_elem(&membrane_lb4_maglev, &rev);
		__u32 idx = lb4_hash(&p->tuple) % cfg_lb_maglev_table_size;
		const __u32 *id;

		if (!table)
			return 0;
		id = bpf_map_lookup_elem(table, &idx);
		return id ? *id : 0;
	}
	slot_key.backend_slot = (bpf_get_prandom_u32() % svc->count) + 1;
	slot = bpf_map_lookup_elem(&membrane_lb4_services, &slot_key);
	return slot ? slot->backend_id : 0;
}

/* Rewrites the destination (dst = 1) or source address and port, fixing the IPv4 and L4
 * checksums incrementally. p->tuple follows. Returns 0 or a drop reason.
 */
static __always_inline int lb4_rewrite(struct __sk_buff *ctx, struct pkt4 *p, __be32 addr,
				       __be16 port, int dst)
{
	__u32 addr_off =
	    ETH_HLEN + (dst ? offsetof(struct iphdr, daddr) : offsetof(struct iphdr, saddr));
	__be32 old_addr = dst ? p->tuple.daddr : p->tuple.saddr;
	__be16 old_port = dst ? p->tuple.dport : p->tuple.sport;
	__u64 l4_flags = 0;
	__u32 csum_off;
	__u8 vihl;

	if (bpf_skb_load_bytes(ctx, ETH_HLEN, &vihl, 1) < 0)
		return MEMBRANE_DROP_WRITE_ERROR;
	__u32 l4_off = ETH_HLEN + (vihl & 0xf) * 4;

	if (p->tuple.nexthdr == IPPROTO_TCP) {
		csum_off = l4_off + LB_TCP_CSUM_OFF;
	} else {
		csum_off = l4_off + LB_UDP_CSUM_OFF;
		l4_flags = BPF_F_MARK_MANGLED_0; /* UDP checksum 0 = none: keep it so */
	}
	if (bpf_l4_csum_replace(ctx, csum_off, old_addr, addr, l4_flags | BPF_F_PSEUDO_HDR | 4) <
		0 ||
	    bpf_l4_csum_replace(ctx, csum_off, old_port, port, l4_flags | 2) < 0 ||
	    bpf_l3_csum_replace(ctx, ETH_HLEN + offsetof(struct iphdr, check), old_addr, addr, 4) <
		0)
		return MEMBRANE_DROP_WRITE_ERROR;
	if (bpf_skb_store_bytes(ctx, addr_off, &addr, 4, 0) < 0 ||
	    bpf_skb_store_bytes(ctx, l4_off + (dst ? 2 : 0), &port, 2, 0) < 0)
		return MEMBRANE_DROP_WRITE_ERROR;
	if (dst) {
		p->tuple.daddr = addr;
		p->tuple.dport = port;
		p->policy_port = bpf_ntohs(port);
	} else {
		p->tuple.saddr = addr;
		p->tuple.sport = port;
	}
	return 0;
}

/* The service entry of a NEW flow: its backend for every later packet. */
static __always_inline int lb4_ct_create(const struct membrane_ct_tuple *t, const struct pkt4 *p,
					 __u32 backend_id, __u16 rev_nat_index, __u64 now)
{
	struct membrane_ct_entry e = {};

	e.flags = ct_tcp_flags(p, 0, 0);
	e.backend_id = backend_id;
	e.rev_nat_index = rev_nat_index;
	e.tx_packets = 1;
	e.tx_bytes = p->len;
	e.expires_ns = now + ct_lifetime_ns(p->tuple.nexthdr, e.flags);
	if (bpf_map_update_elem(&membrane_ct4, t, &e, BPF_ANY) < 0)
		return MEMBRANE_DROP_CT_CREATE_FAILED;
	return 0;
}

/* Leaving a pod: DNAT a packet to a service VIP:port. *rev_nat is the service's index (0 when
 * the destination is no service). Returns 0 or a drop reason (NO_SERVICE when no backend
 * can take the packet: the flow's own backend is gone and no active one is left).
 */
static __always_inline int lb4_local(struct __sk_buff *ctx, struct pkt4 *p, __u64 now,
				     __u16 *rev_nat)
{
	struct membrane_lb4_key key = {};
	const struct membrane_lb4_service *svc;
	const struct membrane_lb4_backend *be = NULL;
	struct membrane_ct_entry *se;
	struct membrane_ct_tuple st;
	__u32 backend_id = 0;
	int ret;

	if (p->tuple.nexthdr != IPPROTO_TCP && p->tuple.nexthdr != IPPROTO_UDP)
		return 0;
	key.address = p->tuple.daddr;
	key.dport = p->tuple.dport;
	key.proto = p->tuple.nexthdr;
	svc = bpf_map_lookup_elem(&membrane_lb4_services, &key);
	if (!svc)
		return 0;
	st = p->tuple;
	st.flags = MEMBRANE_CT_SERVICE;
	se = ct_find(&membrane_ct4, &st, now);
	if (se && !ct_tcp_reopened(p, se)) {
		/* Any state: a terminating backend keeps the connections it has. */
		backend_id = se->backend_id;
		be = bpf_map_lookup_elem(&membrane_lb4_backends, &backend_id);
		if (be) {
			__u8 flags = ct_tcp_flags(p, se->flags, 0);

			if (flags != se->flags)
				se->flags = flags;
			se->expires_ns = now + ct_lifetime_ns(p->tuple.nexthdr, flags);
		}
	}
	if (!be) {
		backend_id = lb4_pick(svc, &key, p, now);
		be = backend_id ? bpf_map_lookup_elem(&membrane_lb4_backends, &backend_id) : NULL;
		if (!be)
			return MEMBRANE_DROP_NO_SERVICE;
		ret = lb4_ct_create(&st, p, backend_id, svc->rev_nat_index, now);
		if (ret)
			return ret;
		if (svc->flags & MEMBRANE_LB_F_AFFINITY) {
			struct membrane_lb4_affinity_key ak = {.client = p->tuple.saddr,
							       .rev_nat_index = svc->rev_nat_index};
			struct membrane_lb_affinity_val av = {.last_used_ns = now,
							      .backend_id = backend_id};

			bpf_map_update_elem(&membrane_lb4_affinity, &ak, &av, BPF_ANY);
		}
	}
	*rev_nat = svc->rev_nat_index;
	return lb4_rewrite(ctx, p, be->address, be->port, 1);
}

/* Entering the client: a reply of a DNATed flow gets VIP:port back as its source. A service
 * removed meanwhile leaves the reply as it is (the client's socket then rejects it).
 */
static __always_inline int lb4_rev_nat(struct __sk_buff *ctx, struct pkt4 *p, __u16 rev_nat_index)
{
	const struct membrane_lb4_reverse_nat *rn;

	rn = bpf_map_lookup_elem(&membrane_lb4_reverse_nat, &rev_nat_index);
	if (!rn)
		return 0;
	return lb4_rewrite(ctx, p, rn->address, rn->port, 0);
}

#endif /* MEMBRANE_BPF_LIB_LB_H */
