// SPDX-License-Identifier: Apache-2.0
// Desired objects in etcd, written the way kubectl writes to an API server: one transaction
// per apply/delete (all objects or none), optimistic concurrency on each object's revision.
// Validation is the caller's (cmd/ runs the model loader before anything is written).
#pragma once

#include <string>
#include <vector>

#include "kvstore/client.h"
#include "kvstore/layout.h"

namespace membrane::kvstore {

struct ObjectWrite {
  std::string identity;  // "Kind/ns/name" (model::objectIdentity)
  std::string yaml;      // the object as stored: JSON (YAML 1.2), without resourceVersion
  std::string origin;    // "file:line" for messages
  // metadata.resourceVersion of the input: the mod_revision the writer last saw; -1 when the
  // input carries none (then the revision read just before the write is compared).
  int64_t expected_revision = -1;
};

struct StoredObject {
  std::string identity;
  std::string yaml;
  int64_t revision = 0;  // etcd mod_revision, shown as metadata.resourceVersion
};

// Writes every object in one transaction; Conflict names each object whose revision moved.
// Returns the revision of the write.
Result<int64_t> applyObjects(Client& c, const Layout& l, const std::vector<ObjectWrite>& objs);
// Deletes every object in one transaction; NotFound/Conflict name the objects.
Result<int64_t> deleteObjects(Client& c, const Layout& l, const std::vector<ObjectWrite>& objs);
// Objects of `kind` (every kind when empty), in key order; `ns` empty = every namespace,
// `name` empty = every name.
Result<std::vector<StoredObject>> listObjects(Client& c, const Layout& l, const std::string& kind,
                                              const std::string& ns, const std::string& name);

}  // namespace membrane::kvstore
