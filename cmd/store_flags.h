// SPDX-License-Identifier: Apache-2.0
// The etcd flags shared by the commands that read or write the store (apply, delete, get,
// observe): --etcd-endpoints, --etcd-prefix, --etcd-ca/--etcd-cert/--etcd-key,
// --etcd-timeout-ms.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "kvstore/client.h"

namespace membrane::cmd {

struct StoreFlags {
  kvstore::ClientConfig client;
  std::string prefix = "membrane/";
};

// From flag -> value (flags without their "="); nullopt with `error` naming the flag.
std::optional<StoreFlags> storeFlags(const std::map<std::string, std::string>& values,
                                     std::string& error);

}  // namespace membrane::cmd
