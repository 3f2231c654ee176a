/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow events into the ring buffer. */
#ifndef MEMBRANE_BPF_LIB_EVENTS_H
#define MEMBRANE_BPF_LIB_EVENTS_H

#include "bpf/lib/common.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, MEMBRANE_EVENTS_SIZE);
} membrane_events SEC(".maps");

/* Events that did not fit into the ring buffer. */
__u64 membrane_events_lost = 0;

/* Whether a packet with this outcome produces an event, per the load-time knobs. */
static __always_inline int events_wanted(__u8 drop_reason, __u8 ct_status)
{
	if (drop_reason)
		return cfg_drop_events;
	if (cfg_trace_forward == MEMBRANE_TRACE_ALL)
		return 1;
	return cfg_trace_forward == MEMBRANE_TRACE_NEW && ct_status == MEMBRANE_CT_NEW;
}

static __always_inline void events_emit(void *ringbuf, const struct membrane_flow_event *ev)
{
	struct membrane_flow_event *out = bpf_ringbuf_reserve(ringbuf, sizeof(*out), 0);

	if (!out) {
		__sync_fetch_and_add(&membrane_events_lost, 1);
		return;
	}
	__builtin_memcpy(out, ev, sizeof(*out));
	bpf_ringbuf_submit(out, cfg_event_wakeup ? 0 : BPF_RB_NO_WAKEUP);
}

#endif /* MEMBRANE_BPF_LIB_EVENTS_H */
