/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Socket-level load balancing (an option, DatapathConfig/agent `socketLB`), Cilium's
 * bpf_sock.c in small: cgroup hooks translate a Service VIP:port to a backend when a pod's
 * socket connects (TCP, connected UDP) or sends (unconnected UDP), so its packets carry the
 * backend's address from the start and the per-packet DNAT of the tc program has nothing to do.
 * getpeername and UDP receives show the VIP again (rev-NAT per socket).
 *
 * The service maps are the tc datapath's own (membrane_lxc): the loader points these
 * definitions at the same kernel maps (bpf_map__reuse_fd), so they must stay identical to
 * bpf/lib/lb.h's. What this program does not translate (no service, sessionAffinity ClientIP
 * services, no active backend) passes unchanged and the tc program handles it per packet as
 * before (affinity, the NO_SERVICE drop with its event).
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bpf/include/lb.h"

#define SOCK_ALLOW 1

const volatile __u32 cfg_lb_maglev_table_size = MEMBRANE_LB_MAGLEV_TABLE_SIZE;

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

struct membrane_sock_maglev_inner {
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
	__array(values, struct membrane_sock_maglev_inner);
} membrane_lb4_maglev SEC(".maps");

/* Per socket (cookie): the VIP it asked for and the backend it got. A reconnect or the next
 * datagram of the same socket to the same VIP keeps its backend while that stays active.
 */
struct membrane_sock_revnat {
	__be32 vip;
	__be32 backend;
	__be16 vport;
	__be16 bport;
	__u32 backend_id;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct membrane_sock_revnat);
} membrane_sock_revnat4 SEC(".maps");

/* The backend id for a new socket: Maglev by the socket cookie (a socket has no source port
 * yet at connect), else a random active slot.
 */
static __always_inline __u32 sock_pick(const struct membrane_lb4_service *svc,
				       const struct membrane_lb4_key *key, __u64 cookie)
{
	struct membrane_lb4_key slot_key = *key;
	const struct membrane_lb4_service *slot;
	__u32 rev = svc->rev_nat_index;

	if (svc->algorithm == MEMBRANE_LB_ALG_MAGLEV) {
		void *table = bpf_map_lookup_elem(&membrane_lb4_maglev, &rev);
		__u32 h = (__u32)(cookie ^ (cookie >> 32)) * 0x9e3779b1u;
		__u32 idx = (h ^ (h >> 16)) % cfg_lb_maglev_table_size;
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

static __always_inline int sock_translate(struct bpf_sock_addr *ctx)
{
	struct membrane_lb4_key key = {};
	const struct membrane_lb4_service *svc;
	const struct membrane_lb4_backend *be = NULL;
	struct membrane_sock_revnat *old, rn = {};
	__u64 cookie;
	__u32 id = 0;

	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return SOCK_ALLOW;
	key.address = ctx->user_ip4;
	key.dport = (__be16)ctx->user_port;
	key.proto = ctx->protocol;
	svc = bpf_map_lookup_elem(&membrane_lb4_services, &key);
	if (!svc || svc->count == 0 || (svc->flags & MEMBRANE_LB_F_AFFINITY))
		return SOCK_ALLOW;
	cookie = bpf_get_socket_cookie(ctx);
	old = bpf_map_lookup_elem(&membrane_sock_revnat4, &cookie);
	if (old && old->vip == key.address && old->vport == key.dport) {
		id = old->backend_id;
		be = bpf_map_lookup_elem(&membrane_lb4_backends, &id);
		if (be && be->state != MEMBRANE_LB_BACKEND_ACTIVE)
			be = NULL;
	}
	if (!be) {
		id = sock_pick(svc, &key, cookie);
		be = id ? bpf_map_lookup_elem(&membrane_lb4_backends, &id) : NULL;
		if (!be)
			return SOCK_ALLOW;
	}
	rn.vip = key.address;
	rn.vport = key.dport;
	rn.backend = be->address;
	rn.bport = be->port;
	rn.backend_id = id;
	bpf_map_update_elem(&membrane_sock_revnat4, &cookie, &rn, BPF_ANY);
	ctx->user_ip4 = be->address;
	ctx->user_port = be->port;
	return SOCK_ALLOW;
}

/* The peer a socket sees: the VIP it asked for, not the backend it got. */
static __always_inline int sock_rev_translate(struct bpf_sock_addr *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	const struct membrane_sock_revnat *rn;

	rn = bpf_map_lookup_elem(&membrane_sock_revnat4, &cookie);
	if (rn && rn->backend == ctx->user_ip4 && rn->bport == (__be16)ctx->user_port) {
		ctx->user_ip4 = rn->vip;
		ctx->user_port = rn->vport;
	}
	return SOCK_ALLOW;
}

SEC("cgroup/connect4")
int membrane_sock_connect4(struct bpf_sock_addr *ctx)
{
	return sock_translate(ctx);
}

SEC("cgroup/sendmsg4")
int membrane_sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_translate(ctx);
}

SEC("cgroup/recvmsg4")
int membrane_sock_recvmsg4(struct bpf_sock_addr *ctx)
{
	return sock_rev_translate(ctx);
}

SEC("cgroup/getpeername4")
int membrane_sock_getpeername4(struct bpf_sock_addr *ctx)
{
	return sock_rev_translate(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
