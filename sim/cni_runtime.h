// SPDX-License-Identifier: Apache-2.0
// The simulator as a container runtime: it calls the membrane-cni binary exactly as the CNI
// spec says (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH in the
// environment, the network configuration on stdin, the result or error on stdout).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "dataplane/result.h"

namespace membrane::sim {

struct CniCall {
  std::string binary;        // membrane-cni
  std::string command;       // ADD, DEL, CHECK
  std::string container_id;  // unique per pod of the run
  std::string netns;         // the pod's namespace name (/run/netns/<netns>)
  std::string ifname = "eth0";
  std::string args;     // CNI_ARGS: "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=pod;IP=a.b.c.d"
  std::string netconf;  // the network configuration (JSON)
  std::string log;      // the plugin's stderr is appended here (a runtime keeps it off the
                        // user's terminal); empty: inherited
};

// The network configuration the simulator hands the plugin: cniVersion 1.1.0, type
// membrane-cni, the node agent's socket.
std::string simNetconf(const std::string& agent_socket);

// Runs the plugin; its result (ADD) or {} (DEL, CHECK). A non-zero exit is an error with
// the plugin's error JSON (code, msg, details) in the message.
dataplane::Result<nlohmann::json> runCni(const CniCall& call);

}  // namespace membrane::sim
