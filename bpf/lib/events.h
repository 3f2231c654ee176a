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

/* Whether a packet with this outcome produces an event, per the load-time knobs (folded by
 * the verifier). Drops are always reported (when drop_events). `notable`: a forwarded packet
 * with a TCP SYN, FIN or RST its direction had not shown yet.
 */
static __always_inline int events_wanted(__u8 drop_reason, __u8 ct_status, int notable)
{
	if (drop_reason)
		return cfg_drop_events;
	switch (cfg_trace_forward) {
	case MEMBRANE_TRACE_ALL:
		return 1;
	case MEMBRANE_TRACE_FORWARD:
		return ct_status == MEMBRANE_CT_NEW || ct_status == MEMBRANE_CT_ESTABLISHED;
	case MEMBRANE_TRACE_FLAGS:
		return ct_status == MEMBRANE_CT_NEW || notable;
	case MEMBRANE_TRACE_NEW:
		return ct_status == MEMBRANE_CT_NEW;
	default:
		return 0;
	}
}

/* One helper call: bpf_ringbuf_output copies the record (reserve + submit would be two). */
static __always_inline void events_emit(void *ringbuf, const struct membrane_flow_event *ev)
{
	if (bpf_ringbuf_output(ringbuf, (void *)ev, sizeof(*ev),
			       cfg_event_wakeup ? 0 : BPF_RB_NO_WAKEUP) < 0)
		__sync_fetch_and_add(&membrane_events_lost, 1);
}

#endif /* MEMBRANE_BPF_LIB_EVENTS_H */
