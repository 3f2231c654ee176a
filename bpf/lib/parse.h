/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packet parsing: Ethernet, IPv4 and the L4 fields conntrack and policy need. */
#ifndef MEMBRANE_BPF_LIB_PARSE_H
#define MEMBRANE_BPF_LIB_PARSE_H

#include "bpf/lib/common.h"

#define IPPROTO_ICMP_	    1
#define ICMP_ECHOREPLY_	    0
#define ICMP_DEST_UNREACH_  3
#define ICMP_ECHO_	    8
#define ICMP_TIME_EXCEEDED_ 11
#define ICMP_PARAMETERPROB_ 12
#define TCP_FLAG_FIN	    0x01
#define TCP_FLAG_SYN	    0x02
#define TCP_FLAG_RST	    0x04
#define TCP_FLAG_ACK	    0x10

/* Everything later stages need about one IPv4 packet. */
struct pkt4 {
	struct membrane_ct_tuple tuple; /* as carried by the packet; flags = CT direction */
	__u32 len;
	__u16 policy_port; /* host order: dport, or the ICMP type */
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 icmp_error; /* 1: inner holds the embedded packet's tuple */
	struct membrane_ct_tuple inner;
};

struct l4_ports {
	__be16 sport;
	__be16 dport;
};

struct icmp_hdr4 {
	__u8 type;
	__u8 code;
	__be16 csum;
	__be16 id;
	__be16 seq;
};

/* Ports (or ICMP echo identifier) of an L4 header at `off`; 0 on success. */
static __always_inline int parse_ports4(struct __sk_buff *ctx, __u32 off, __u8 proto,
					struct membrane_ct_tuple *t)
{
	if (proto == IPPROTO_ICMP_) {
		struct icmp_hdr4 icmp;

		if (bpf_skb_load_bytes(ctx, off, &icmp, sizeof(icmp)) < 0)
			return -1;
		t->sport = 0;
		t->dport = 0;
		if (icmp.type == ICMP_ECHO_)
			t->sport = icmp.id;
		else if (icmp.type == ICMP_ECHOREPLY_)
			t->dport = icmp.id;
		return 0;
	}
	struct l4_ports ports;

	if (bpf_skb_load_bytes(ctx, off, &ports, sizeof(ports)) < 0)
		return -1;
	t->sport = ports.sport;
	t->dport = ports.dport;
	return 0;
}

static __always_inline int icmp_is_error(__u8 type)
{
	return type == ICMP_DEST_UNREACH_ || type == ICMP_TIME_EXCEEDED_ ||
	       type == ICMP_PARAMETERPROB_;
}

/* Parses IPv4 + L4 at ETH_HLEN. Returns 0 or a drop reason. */
static __always_inline int parse_ipv4(struct __sk_buff *ctx, __u8 ct_dir, struct pkt4 *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip4 = data + ETH_HLEN;

	if ((void *)(ip4 + 1) > data_end)
		return MEMBRANE_DROP_INVALID;
	if (ip4->version != 4 || ip4->ihl < 5)
		return MEMBRANE_DROP_INVALID;

	__u32 l4_off = ETH_HLEN + ip4->ihl * 4;
	__u8 proto = ip4->protocol;

	p->len = ctx->len;
	p->tuple.daddr = ip4->daddr;
	p->tuple.saddr = ip4->saddr;
	p->tuple.nexthdr = proto;
	p->tuple.flags = ct_dir;
	if (ip4->frag_off & bpf_htons(0x3fff)) /* MF or offset */
		return MEMBRANE_DROP_FRAG_NOSUPPORT;

	switch (proto) {
	case IPPROTO_TCP: {
		__u8 hdr[14];

		if (bpf_skb_load_bytes(ctx, l4_off, hdr, sizeof(hdr)) < 0)
			return MEMBRANE_DROP_CT_INVALID_HDR;
		__builtin_memcpy(&p->tuple.sport, &hdr[0], 2);
		__builtin_memcpy(&p->tuple.dport, &hdr[2], 2);
		p->tcp_flags = hdr[13];
		p->policy_port = bpf_ntohs(p->tuple.dport);
		return 0;
	}
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		if (parse_ports4(ctx, l4_off, proto, &p->tuple) < 0)
			return MEMBRANE_DROP_CT_INVALID_HDR;
		p->policy_port = bpf_ntohs(p->tuple.dport);
		return 0;
	case IPPROTO_ICMP_: {
		struct icmp_hdr4 icmp;

		if (bpf_skb_load_bytes(ctx, l4_off, &icmp, sizeof(icmp)) < 0)
			return MEMBRANE_DROP_CT_INVALID_HDR;
		p->icmp_type = icmp.type;
		p->icmp_code = icmp.code;
		p->policy_port = icmp.type;
		if (parse_ports4(ctx, l4_off, proto, &p->tuple) < 0)
			return MEMBRANE_DROP_CT_INVALID_HDR;
		if (icmp_is_error(icmp.type)) {
			struct iphdr inner;
			__u32 off = l4_off + sizeof(icmp);

			/* A truncated quote cannot be related; it is then a NEW ICMP packet. */
			if (bpf_skb_load_bytes(ctx, off, &inner, sizeof(inner)) < 0)
				return 0;
			if (inner.version != 4 || inner.ihl < 5)
				return 0;
			p->inner.daddr = inner.daddr;
			p->inner.saddr = inner.saddr;
			p->inner.nexthdr = inner.protocol;
			if (parse_ports4(ctx, off + inner.ihl * 4, inner.protocol, &p->inner) < 0)
				return 0;
			p->icmp_error = 1;
		}
		return 0;
	}
	default:
		return MEMBRANE_DROP_UNKNOWN_L4;
	}
}

#endif /* MEMBRANE_BPF_LIB_PARSE_H */
