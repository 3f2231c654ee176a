/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Drop reasons shared by the BPF programs and the C++ side. The numbers are Cilium's
 * (positive value of DROP_* in bpf/lib/drop_reasons.h, Hubble's flow.DropReason), so
 * flows read the same in both projects. 0 means "forwarded" in metrics and events.
 */
#ifndef MEMBRANE_BPF_INCLUDE_DROP_REASONS_H
#define MEMBRANE_BPF_INCLUDE_DROP_REASONS_H

enum membrane_drop_reason {
	MEMBRANE_DROP_NONE = 0,
	MEMBRANE_DROP_INVALID_SIP = 132,      /* source address is not the endpoint's */
	MEMBRANE_DROP_POLICY = 133,	      /* no policy entry: default deny */
	MEMBRANE_DROP_INVALID = 134,	      /* malformed IPv4 header */
	MEMBRANE_DROP_CT_INVALID_HDR = 135,   /* L4 header truncated */
	MEMBRANE_DROP_UNKNOWN_L3 = 139,	      /* IPv6 (not yet supported) */
	MEMBRANE_DROP_WRITE_ERROR = 141,      /* packet rewrite (service NAT) failed */
	MEMBRANE_DROP_UNKNOWN_L4 = 142,	      /* IPv4 protocol other than TCP/UDP/ICMP/SCTP */
	MEMBRANE_DROP_UNKNOWN_TARGET = 150,   /* destination is not this endpoint */
	MEMBRANE_DROP_CT_CREATE_FAILED = 155, /* conntrack insertion failed */
	MEMBRANE_DROP_FRAG_NOSUPPORT = 157,   /* IPv4 fragment */
	MEMBRANE_DROP_NO_SERVICE = 158,	      /* service VIP:port without an active backend */
	MEMBRANE_DROP_UNKNOWN_CT = 163,	      /* impossible conntrack state */
	MEMBRANE_DROP_NO_CONFIG = 165,	      /* endpoint has no policy map installed */
	MEMBRANE_DROP_UNSUPPORTED_L2 = 166,   /* ethertype other than IPv4, IPv6, ARP */
	MEMBRANE_DROP_INVALID_IDENTITY =
	    171,			    /* tunnel key missing, or the host identity in a VNI */
	MEMBRANE_DROP_UNKNOWN_SENDER = 172, /* tunnel packet from an address that is not a node */
	MEMBRANE_DROP_PROXY_LOOKUP_FAILED =
	    178, /* policy redirects to an L7 proxy port where no proxy listens */
	MEMBRANE_DROP_POLICY_DENY = 181, /* an explicit deny entry matched */
};

/* Hubble flow.Verdict numbers. */
enum membrane_verdict {
	MEMBRANE_VERDICT_UNKNOWN = 0,
	MEMBRANE_VERDICT_FORWARDED = 1,
	MEMBRANE_VERDICT_DROPPED = 2,
	MEMBRANE_VERDICT_AUDIT = 4, /* a policy drop let through by policy audit mode */
	MEMBRANE_VERDICT_REDIRECTED = 5,
};

/* Hubble TrafficDirection / Cilium METRIC_INGRESS/EGRESS numbers. Ingress = entering the
 * endpoint (tc egress of the host-side veth), egress = leaving it (tc ingress).
 */
enum membrane_direction {
	MEMBRANE_DIR_INGRESS = 1,
	MEMBRANE_DIR_EGRESS = 2,
};

#endif /* MEMBRANE_BPF_INCLUDE_DROP_REASONS_H */
