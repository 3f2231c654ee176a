/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Metrics ABI: per-CPU array of packet/byte counters indexed by direction and drop reason
 * (reason 0 = forwarded), like Cilium's cilium_metrics {reason, dir}.
 */
#ifndef MEMBRANE_BPF_INCLUDE_METRICS_H
#define MEMBRANE_BPF_INCLUDE_METRICS_H

#include <linux/types.h>

/* index = (direction - 1) * 256 + reason, direction = MEMBRANE_DIR_INGRESS/EGRESS. */
#define MEMBRANE_METRICS_SIZE		    512
#define MEMBRANE_METRICS_INDEX(dir, reason) ((((dir)-1) & 1) * 256 + ((reason)&0xff))

struct membrane_metrics_value {
	__u64 packets;
	__u64 bytes;
};

#endif /* MEMBRANE_BPF_INCLUDE_METRICS_H */
