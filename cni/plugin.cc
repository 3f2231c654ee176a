// SPDX-License-Identifier: Apache-2.0
#include "cni/plugin.h"

#include <fstream>
#include <memory>

#include "cni/agent_client.h"
#include "cni/del_queue.h"
#include "cni/netconf.h"

namespace membrane::cni {

using nlohmann::json;

namespace {

// Everything a command needs, built once per invocation.
struct Context {
  Env env;
  NetConf conf;
  AgentClient agent;
  DelQueue queue;
  std::ostream& log;
};

Error tryLater(const AgentReply& r) {
  return Error{Code::TryAgainLater, "membrane-agent is not available, try again later",
               r.errorMessage()};
}

// Maps an agent error reply onto the CNI code the contract names (docs/agent-api.md).
Error fromAgent(const AgentReply& r, std::string_view what) {
  if (!r.answered()) return tryLater(r);
  const std::string code = r.errorCode();
  const std::string msg = std::string(what) + " failed: agent answered " +
                          std::to_string(r.status) + (code.empty() ? "" : " " + code);
  if (code == "not-ready" || code == "ipam-exhausted" || r.status == 503 || r.status == 507)
    return Error{Code::TryAgainLater, msg, r.errorMessage()};
  if (code == "invalid" || r.status == 400) {
    // The only field our request takes from the network configuration is "labels".
    bool fromConf = r.errorMessage().find("labels") != std::string::npos;
    return Error{fromConf ? Code::InvalidNetworkConfig : Code::InvalidEnvironment, msg,
                 r.errorMessage()};
  }
  if (code == "conflict" || r.status == 409)
    return Error{Code::InvalidEnvironment, msg, r.errorMessage()};
  if (code == "not-found" || r.status == 404)
    return Error{Code::UnknownContainer, msg, r.errorMessage()};
  return Error{Code::AgentInternal, msg, r.errorMessage()};
}

// Applies queued DELs oldest first. Returns the reply that stopped it (agent down, not ready
// or failing), or nullopt when the queue is empty now. An entry the agent rejects as a bad
// request is set aside as <file>.rejected so that it cannot block every later ADD.
std::optional<AgentReply> replayQueue(const Context& c) {
  std::vector<std::string> problems;
  for (const QueuedDel& d : c.queue.list(&problems)) {
    AgentReply r = c.agent.del(endpointPath(d.containerId, d.ifname));
    if (!r.answered() || r.status >= 500) return r;
    if (!r.success() && r.status != 404) {
      c.queue.reject(d);
      c.log << "membrane-cni: queued DEL " << d.file << " rejected by the agent ("
            << r.errorMessage() << "), kept as .rejected\n";
      continue;
    }
    c.queue.remove(d);
    c.log << "membrane-cni: applied queued DEL " << d.containerId << "/" << d.ifname << " (queued "
          << d.queuedAt << ")\n";
  }
  for (const std::string& p : problems) c.log << "membrane-cni: " << p << "\n";
  return std::nullopt;
}

Result<CniResult> resultFromEndpoint(const json& reply, const Env& env) {
  const json* ep = reply.contains("endpoint") ? &reply["endpoint"] : nullptr;
  auto bad = [](const std::string& field) {
    return Error{Code::AgentProtocol, "the agent's endpoint reply breaks the contract",
                 "endpoint." + field + ": missing or of the wrong type"};
  };
  if (ep == nullptr || !ep->is_object()) return bad("(object)");
  for (const char* f : {"ip", "gateway", "hostIfname"})
    if (!ep->contains(f) || !(*ep)[f].is_string()) return bad(f);
  if (!ep->contains("prefixLength") || !(*ep)["prefixLength"].is_number_integer())
    return bad("prefixLength");
  CniResult r;
  r.interfaces.push_back({.name = (*ep)["hostIfname"].get<std::string>()});
  Interface pod{.name = env.ifname, .sandbox = env.netns};
  if (ep->contains("mac") && (*ep)["mac"].is_string()) pod.mac = (*ep)["mac"].get<std::string>();
  if (ep->contains("mtu") && (*ep)["mtu"].is_number_integer()) pod.mtu = (*ep)["mtu"].get<int>();
  r.interfaces.push_back(pod);
  const std::string gw = (*ep)["gateway"].get<std::string>();
  r.ips.push_back({.address = (*ep)["ip"].get<std::string>() + "/" +
                              std::to_string((*ep)["prefixLength"].get<int>()),
                   .gateway = gw,
                   .interface = 1});
  r.routes.push_back({.dst = "0.0.0.0/0", .gw = gw});
  return r;
}

json endpointRequest(const Context& c) {
  json body = {{"containerId", c.env.containerId},
               {"ifname", c.env.ifname},
               {"netns", c.env.netns},
               {"podNamespace", c.env.args.podNamespace},
               {"podName", c.env.args.podName}};
  if (!c.conf.labels.empty()) body["labels"] = c.conf.labels;
  if (!c.env.args.ip.empty()) {
    body["ip"] = c.env.args.ip;
  } else if (!c.conf.runtimeIp.empty()) {
    body["ip"] = c.conf.runtimeIp;
  }
  return body;
}

// Removes the endpoint of a failed ADD now, or queues its DEL when the agent cannot answer.
void undoAdd(const Context& c, const std::string& why) {
  AgentReply d = c.agent.del(endpointPath(c.env.containerId, c.env.ifname));
  if (d.success() || (d.answered() && d.status == 404)) return;
  QueuedDel q{.containerId = c.env.containerId,
              .ifname = c.env.ifname,
              .netns = c.env.netns,
              .network = c.conf.name};
  if (auto e = c.queue.push(q)) c.log << "membrane-cni: cannot queue the undo: " << e->details;
  c.log << "membrane-cni: ADD " << c.env.containerId << "/" << c.env.ifname << " failed (" << why
        << "); its DEL is queued\n";
}

Result<json> cmdAdd(const Context& c) {
  if (auto e = checkNetns(c.env.netns)) return *e;
  CniResult prev;
  if (c.conf.prevResult) {
    Result<CniResult> p = parseResult(*c.conf.prevResult, "prevResult");
    if (!p) return p.error();
    prev = p.value();
  }
  // Queued DELs go first: one of them may be this container's previous attachment.
  if (auto stop = replayQueue(c)) return fromAgent(*stop, "applying a queued DEL");
  AgentReply r = c.agent.put("/v1/endpoints/" + urlEncode(c.env.containerId), endpointRequest(c));
  if (r.kind == AgentReply::Kind::Broken) {
    // The request went out but no usable answer came back (timeout, reset): the agent may
    // still finish the endpoint. Queue its DEL so it cannot outlive this failed ADD; a retried
    // ADD replays that DEL before its own PUT.
    undoAdd(c, r.errorMessage());
    return fromAgent(r, "creating the endpoint");
  }
  if (!r.success()) return fromAgent(r, "creating the endpoint");
  Result<CniResult> mine = resultFromEndpoint(r.body, c.env);
  if (!mine) {
    undoAdd(c, mine.error().details);  // the runtime gets an error: leave nothing behind
    return mine.error();
  }
  c.log << "membrane-cni: ADD " << c.env.containerId << "/" << c.env.ifname << " -> "
        << mine->ips[0].address << "\n";
  return toJson(mergeResults(prev, mine.value()), c.conf.version);
}

Result<json> cmdDel(const Context& c) {
  // DEL must succeed: the runtime would leak the attachment. A client error (4xx) is ours to
  // report; anything else (down, not ready, internal) goes to the spool, behind the entries
  // already queued so that the order of DELs is kept.
  std::optional<AgentReply> stop = replayQueue(c);
  AgentReply r = stop ? *stop : c.agent.del(endpointPath(c.env.containerId, c.env.ifname));
  if (!stop) {
    if (r.success() || (r.answered() && r.status == 404)) {
      c.log << "membrane-cni: DEL " << c.env.containerId << "/" << c.env.ifname
            << (r.success() ? " deleted" : " was unknown to the agent") << "\n";
      return json();
    }
    if (r.answered() && r.status < 500) return fromAgent(r, "deleting the endpoint");
  }
  QueuedDel d{.containerId = c.env.containerId,
              .ifname = c.env.ifname,
              .netns = c.env.netns,
              .network = c.conf.name};
  if (auto e = c.queue.push(d)) return *e;
  c.log << "membrane-cni: DEL " << c.env.containerId << "/" << c.env.ifname << " queued in "
        << c.queue.dir() << " (" << r.errorMessage() << ")\n";
  return json();
}

Result<json> cmdCheck(const Context& c) {
  if (c.conf.disableCheck) return json();
  if (auto e = checkNetns(c.env.netns)) return *e;
  if (!c.conf.prevResult)
    return Error{Code::InvalidNetworkConfig, "CHECK needs prevResult",
                 "field \"prevResult\": the runtime must pass the ADD result to CHECK"};
  Result<CniResult> prev = parseResult(*c.conf.prevResult, "prevResult");
  if (!prev) return prev.error();
  if (auto stop = replayQueue(c)) return fromAgent(*stop, "applying a queued DEL");
  AgentReply ep = c.agent.get(endpointPath(c.env.containerId, c.env.ifname));
  if (!ep.success()) return fromAgent(ep, "looking up the endpoint");
  Result<CniResult> mine = resultFromEndpoint(ep.body, c.env);
  if (!mine) return mine.error();
  const std::string& addr = mine->ips[0].address;
  bool listed = false;
  for (const IpConfig& ip : prev->ips) listed = listed || ip.address == addr;
  if (!listed)
    return Error{Code::CheckFailed, "endpoint differs from prevResult",
                 "the agent holds " + addr + " for " + c.env.containerId + "/" + c.env.ifname +
                     "; prevResult does not list it"};
  AgentReply r = c.agent.get(endpointPath(c.env.containerId, c.env.ifname, "/check"));
  if (r.success()) return json();
  if (r.answered() && r.errorCode() == "check-failed")
    return Error{Code::CheckFailed, "endpoint check failed", r.errorMessage()};
  return fromAgent(r, "checking the endpoint");
}

Result<json> cmdStatus(const Context& c) {
  AgentReply r = c.agent.get("/v1/cni/status");
  if (!r.success())
    return Error{Code::PluginNotAvailable, "membrane-agent cannot add pods now", r.errorMessage()};
  if (auto stop = replayQueue(c))
    c.log << "membrane-cni: queue replay stopped: " << stop->errorMessage() << "\n";
  return json();
}

Result<json> cmdGc(const Context& c) {
  if (c.conf.disableGC) return json();
  if (!c.conf.validAttachments)
    return Error{Code::InvalidNetworkConfig, "GC needs cni.dev/valid-attachments",
                 "field \"cni.dev/valid-attachments\": the runtime must list what to keep"};
  if (auto stop = replayQueue(c)) return fromAgent(*stop, "applying a queued DEL");
  json keep = json::array();
  for (const Attachment& a : *c.conf.validAttachments)
    keep.push_back({{"containerId", a.containerId}, {"ifname", a.ifname}});
  AgentReply r = c.agent.post("/v1/gc", {{"keep", keep}});
  if (!r.success()) return fromAgent(r, "garbage collection");
  c.log << "membrane-cni: GC removed " << r.body.value("removed", json::array()).dump() << "\n";
  return json();
}

json versionReply(std::string_view stdinText) {
  json versions = json::array();
  for (std::string_view v : kSupportedVersions) versions.push_back(v);
  return {{"cniVersion", peekVersion(stdinText)}, {"supportedVersions", versions}};
}

// Commands older configurations do not have.
std::optional<Error> versionAllows(Command cmd, Version v) {
  if ((cmd == Command::Status || cmd == Command::Gc) && v != Version::V1_1_0)
    return Error{Code::IncompatibleVersion, "incompatible CNI version",
                 std::string(cmd == Command::Status ? "STATUS" : "GC") +
                     " exists from cniVersion 1.1.0; the configuration says " +
                     std::string(versionString(v))};
  return std::nullopt;
}

Result<json> dispatch(const Context& c) {
  switch (c.env.command) {
    case Command::Add:
      return cmdAdd(c);
    case Command::Del:
      return cmdDel(c);
    case Command::Check:
      return cmdCheck(c);
    case Command::Status:
      return cmdStatus(c);
    case Command::Gc:
      return cmdGc(c);
    case Command::Version:
      break;
  }
  return json();
}

const char* commandName(Command c) {
  switch (c) {
    case Command::Add:
      return "ADD";
    case Command::Del:
      return "DEL";
    case Command::Check:
      return "CHECK";
    case Command::Version:
      return "VERSION";
    case Command::Status:
      return "STATUS";
    case Command::Gc:
      return "GC";
  }
  return "?";
}

std::string getOr(const Getenv& getenv, const char* name) {
  const char* v = getenv(name);
  return v == nullptr ? "" : v;
}

int emitError(const Error& e, std::string_view version, std::ostream& out, std::ostream& log) {
  out << errorJson(e, version).dump() << "\n";
  log << "membrane-cni: error " << static_cast<int>(e.code) << ": " << e.msg
      << (e.details.empty() ? "" : ": " + e.details) << "\n";
  return kExitError;
}

}  // namespace

int run(const Getenv& getenv, std::string_view stdinText, std::ostream& out, std::ostream& log) {
  const std::string peek = peekVersion(stdinText);
  Result<Command> cmd = parseCommand(getenv);
  if (!cmd) return emitError(cmd.error(), peek, out, log);
  if (cmd.value() == Command::Version) {
    out << versionReply(stdinText).dump() << "\n";
    return kExitSuccess;
  }
  Result<NetConf> conf = parseNetConf(stdinText);
  if (!conf) return emitError(conf.error(), peek, out, log);
  const std::string version(versionString(conf->version));
  std::unique_ptr<std::ofstream> file;
  std::ostream* logp = &log;
  if (!conf->logFile.empty()) {
    file = std::make_unique<std::ofstream>(conf->logFile, std::ios::app);
    if (*file) logp = file.get();  // unwritable log file: keep stderr rather than fail
  }
  if (auto e = versionAllows(cmd.value(), conf->version)) return emitError(*e, version, out, *logp);
  Result<Env> env = parseEnv(getenv);
  if (!env) return emitError(env.error(), version, out, *logp);
  Context c{env.value(), conf.value(), AgentClient(conf->agentSocket, conf->agentTimeoutSeconds),
            DelQueue(conf->delQueueDir), *logp};
  // One line per invocation: runtimes rarely show what they sent.
  *logp << "membrane-cni: " << nowRfc3339() << " " << commandName(c.env.command) << " "
        << c.env.containerId << "/" << c.env.ifname << " netns=" << c.env.netns
        << " args=" << getOr(getenv, "CNI_ARGS") << "\n";
  Result<json> r = dispatch(c);
  if (!r) return emitError(r.error(), version, out, *logp);
  if (!r->is_null()) out << r->dump() << "\n";
  return kExitSuccess;
}

}  // namespace membrane::cni
