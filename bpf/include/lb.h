/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Service load balancing ABI (kube-proxy replacement; Cilium's lb4_* maps, simplified).
 *
 * membrane_lb4_services (HASH): {VIP, port, protocol, slot} -> value. Slot 0 is the service's
 *   master entry (count of ACTIVE backends, rev-NAT index, flags, algorithm); slots 1..count
 *   hold the ids of the active backends (random selection picks one). Terminating backends
 *   are in no slot: they keep the connections they have (the service CT entry names them)
 *   and get no new one.
 * membrane_lb4_backends (HASH): backend id -> {IP, port, state}.
 * membrane_lb4_maglev (HASH_OF_MAPS): rev-NAT index -> inner ARRAY of cfg_lb_maglev_table_size
 *   (default MEMBRANE_LB_MAGLEV_TABLE_SIZE) backend ids (Maglev services only); the flow's
 *   5-tuple hash picks the slot.
 * membrane_lb4_reverse_nat (HASH): rev-NAT index -> {VIP, port}: a reply's source is rewritten
 *   back to it on the way into the client pod.
 * membrane_lb4_affinity (LRU_HASH): {client IP, rev-NAT index} -> backend and last use
 *   (sessionAffinity: ClientIP).
 * The rev-NAT index doubles as the service id (1..65535; 0 = none).
 */
#ifndef MEMBRANE_BPF_INCLUDE_LB_H
#define MEMBRANE_BPF_INCLUDE_LB_H

#include <linux/types.h>

/* 12 bytes. */
struct membrane_lb4_key {
	__be32 address;	    /* service VIP (ClusterIP) */
	__be16 dport;	    /* service port */
	__u16 backend_slot; /* 0: master entry; 1..count: backend slots */
	__u8 proto;	    /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad[3];
};

#define MEMBRANE_LB_F_AFFINITY 0x1 /* sessionAffinity: ClientIP */

enum membrane_lb_algorithm {
	MEMBRANE_LB_ALG_RANDOM = 1,
	MEMBRANE_LB_ALG_MAGLEV = 2,
};

/* 16 bytes. */
struct membrane_lb4_service {
	__u32 backend_id;	/* slots >= 1: the backend; master: 0 */
	__u32 affinity_timeout; /* master: seconds (MEMBRANE_LB_F_AFFINITY) */
	__u16 count;		/* master: active backends (slots 1..count) */
	__u16 rev_nat_index;	/* the service id */
	__u8 flags;		/* MEMBRANE_LB_F_* */
	__u8 algorithm;		/* enum membrane_lb_algorithm */
	__u16 pad;
};

enum membrane_lb_backend_state {
	MEMBRANE_LB_BACKEND_ACTIVE = 0,
	MEMBRANE_LB_BACKEND_TERMINATING = 1, /* keeps its connections, gets no new one */
};

/* 8 bytes. */
struct membrane_lb4_backend {
	__be32 address;
	__be16 port;
	__u8 proto;
	__u8 state; /* enum membrane_lb_backend_state */
};

/* 8 bytes. */
struct membrane_lb4_reverse_nat {
	__be32 address;
	__be16 port;
	__u16 pad;
};

/* 8 bytes. */
struct membrane_lb4_affinity_key {
	__be32 client;
	__u16 rev_nat_index;
	__u16 pad;
};

/* 16 bytes. */
struct membrane_lb_affinity_val {
	__u64 last_used_ns; /* CLOCK_MONOTONIC (coarse) */
	__u32 backend_id;
	__u32 pad;
};

#define MEMBRANE_LB_SERVICES_SIZE     65536
#define MEMBRANE_LB_BACKENDS_SIZE     65536
#define MEMBRANE_LB_REVNAT_SIZE	      65536
#define MEMBRANE_LB_AFFINITY_SIZE     65536
#define MEMBRANE_LB_MAGLEV_SIZE	      4096  /* Maglev services */
#define MEMBRANE_LB_MAGLEV_TABLE_SIZE 16381 /* default (prime); DatapathConfig::maglev_table_size  \
					     */

/* Conntrack tuple flags of a service entry: {VIP, port} as the client sent it -> the chosen
 * backend (membrane_ct_entry.backend_id), so every packet of the flow goes to the same one.
 */
#define MEMBRANE_CT_SERVICE 2

#endif /* MEMBRANE_BPF_INCLUDE_LB_H */
