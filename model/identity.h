// SPDX-License-Identifier: Apache-2.0
// How pods get their security identity labels (public: verify/ encodes the same filter).
#pragma once

#include "model/cluster.h"

namespace membrane::model {

// The identity-relevant labels of a pod: its labels filtered as Cilium does by default,
// plus the namespace, its labels, the service account and the cluster name.
Labels podIdentityLabels(const Cluster& cluster, const Pod& pod);

// Allocates identities (reserved, one per distinct identity-relevant label set, CIDR
// prefixes named by policies) and sets Pod::identity. Returns an error message when
// options.identities could not allocate (the cluster is then unusable), else empty.
std::string allocateIdentities(Cluster& cluster);

}  // namespace membrane::model
