/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU counters by direction and drop reason (reason 0 = forwarded). */
#ifndef MEMBRANE_BPF_LIB_METRICS_H
#define MEMBRANE_BPF_LIB_METRICS_H

#include "bpf/lib/common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MEMBRANE_METRICS_SIZE);
	__type(key, __u32);
	__type(value, struct membrane_metrics_value);
} membrane_metrics SEC(".maps");

static __always_inline void metrics_account(void *map, __u8 dir, __u8 reason, __u32 bytes)
{
	__u32 idx = MEMBRANE_METRICS_INDEX(dir, reason);
	struct membrane_metrics_value *v = bpf_map_lookup_elem(map, &idx);

	if (v) {
		v->packets++; /* per-CPU: no atomics needed */
		v->bytes += bytes;
	}
}

#endif /* MEMBRANE_BPF_LIB_METRICS_H */
