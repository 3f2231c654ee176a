// SPDX-License-Identifier: Apache-2.0
// Hubble's FlowFilter semantics, compiled once per request into predicates: within one
// filter every field that is set must match (a field matches when any of its values does);
// a flow passes when it matches any whitelist filter (or there is none) and no blacklist
// filter. A field membrane cannot evaluate is refused, never ignored: ignoring it would
// show flows the caller excluded.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "agent/state.h"
#include "flow/flow.pb.h"
#include "google/protobuf/repeated_ptr_field.h"

namespace membrane::agent {

class FlowFilters {
 public:
  using Filters = google::protobuf::RepeatedPtrField<flow::FlowFilter>;
  // EINVAL with "whitelist[0].source_ip[1]: \"10.0.0\": expected an IP address or CIDR".
  static Result<FlowFilters> compile(const Filters& whitelist, const Filters& blacklist);

  bool match(const flow::Flow& f) const;
  bool empty() const { return white_.empty() && black_.empty(); }

 private:
  using Predicate = std::function<bool(const flow::Flow&)>;
  using Conjunction = std::vector<Predicate>;
  static Result<Conjunction> compileOne(const flow::FlowFilter& f, const std::string& where);
  std::vector<Conjunction> white_, black_;
};

}  // namespace membrane::agent
