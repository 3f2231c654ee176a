// SPDX-License-Identifier: Apache-2.0
// membrane apply | delete | get: desired state in etcd, the way kubectl talks to an API
// server. Everything is validated before anything is written; one transaction per command.
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cmd/args.h"
#include "cmd/store_flags.h"
#include "kvstore/objects.h"
#include "model/manifest_set.h"

namespace membrane::cmd {

namespace {

namespace kv = kvstore;

constexpr const char* kStoreOptions =
    "Store options:\n"
    "  --etcd-endpoints URLS  comma-separated http(s)://HOST:PORT (default http://127.0.0.1:2379)\n"
    "  --etcd-prefix P        key prefix (default membrane/)\n"
    "  --etcd-ca FILE, --etcd-cert FILE, --etcd-key FILE   TLS (https endpoints)\n"
    "  --etcd-timeout-ms N    deadline of each request (default 5000)\n"
    "Exit codes: 0 ok; 1 conflict (an object's resourceVersion moved) or not found;\n"
    "  2 unusable input or usage (nothing written); 5 the store is unreachable or failed";

const std::initializer_list<std::string> kStoreFlags = {
    "--etcd-endpoints=", "--etcd-prefix=", "--etcd-ca=",
    "--etcd-cert=",      "--etcd-key=",    "--etcd-timeout-ms="};

struct Store {
  std::shared_ptr<kv::Client> client;
  kv::Layout layout;
};

std::optional<Store> openStore(Args& a) {
  std::string error;
  auto flags = storeFlags(a.values, error);
  if (!flags) {
    std::cerr << "error: " << error << "\n";
    return std::nullopt;
  }
  auto c = kv::Client::create(flags->client);
  if (!c) {
    std::cerr << "error: " << c.error().message << "\n";
    return std::nullopt;
  }
  return Store{*c, kv::Layout(flags->prefix)};
}

int storeError(const kv::Error& e) {
  std::cerr << "error: " << e.message << "\n";
  return e.code == kv::ErrorCode::Conflict || e.code == kv::ErrorCode::NotFound ? kExitFailed
                                                                                : kExitStore;
}

// kubectl's -f may repeat; Args keeps one value per option, so -f's become positionals.
std::vector<char*> fileArgsAsPaths(int argc, char** argv) {
  std::vector<char*> out;
  for (int i = 0; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s == "-f" || s == "--filename") continue;
    out.push_back(argv[i]);
  }
  return out;
}

// YAML -> JSON with YAML 1.2 core-schema scalars: plain true/false/null/numbers keep their
// type, everything quoted stays a string (so "80" and 80 differ as they do in the API).
nlohmann::json toJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& kvp : n) o[kvp.first.as<std::string>()] = toJson(kvp.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& e : n) a.push_back(toJson(e));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted in the source
      if (s == "true" || s == "false") return s == "true";
      if (s == "null" || s == "~") return nullptr;
      int64_t i = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
      if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return i;
      return s;
    }
    default:
      return nullptr;
  }
}

// The objects of the files, each with its origin and the resourceVersion it carries (taken
// out of the stored text: the store's revision is the one truth).
std::optional<std::vector<kv::ObjectWrite>> readObjects(const std::vector<std::string>& paths) {
  model::Diagnostics diags;
  std::vector<kv::ObjectWrite> out;
  for (const auto& file : model::collectManifestFiles(paths, diags)) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    for (auto& d : model::parseManifestDocs(file, text.str(), diags)) {
      // An empty document (a trailing `---`, comments only) is no object, as for kubectl
      // and the loader.
      if (!d.node.IsDefined() || d.node.IsNull()) continue;
      const std::string id = model::objectIdentity(d.node);
      if (id.empty()) {
        diags.error(
            {.loc = d.loc, .field = "kind, metadata.name", .message = "an object needs both"});
        continue;
      }
      kv::ObjectWrite w{.identity = id, .origin = d.loc.str()};
      YAML::Node meta = d.node["metadata"];
      if (meta["resourceVersion"].IsDefined()) {
        const std::string v = meta["resourceVersion"].as<std::string>("");
        int64_t rev = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), rev);
        if (ec != std::errc() || p != v.data() + v.size() || rev <= 0) {
          const YAML::Mark m = meta["resourceVersion"].Mark();
          diags.error({.loc = {.file = file, .line = m.line + 1, .column = m.column + 1},
                       .object = id,
                       .field = "metadata.resourceVersion",
                       .message = "expected a positive revision number, got \"" + v + "\""});
          continue;
        }
        w.expected_revision = rev;
        meta.remove("resourceVersion");
      }
      // Stored as JSON, as the API server stores objects: YAML's quoting ("80" vs 80) does
      // not survive a YAML round trip through yaml-cpp, types in JSON do.
      w.yaml = toJson(d.node).dump();
      out.push_back(std::move(w));
    }
  }
  printDiagnostics(diags);
  if (!diags.ok()) return std::nullopt;
  return out;
}

}  // namespace

int cmdApply(int argc, char** argv) {
  auto args = fileArgsAsPaths(argc, argv);
  Args a;
  const std::string help = std::string(
                               "membrane apply -f FILE|DIR [-f ...] [store options]\n"
                               "  Validates every object with the loader (errors name "
                               "file:line:column), then writes\n"
                               "  them all in one etcd transaction; an object replaces the one "
                               "of the same kind,\n"
                               "  namespace and name. With metadata.resourceVersion the write "
                               "happens only when\n"
                               "  the stored object still has that revision (else: conflict, "
                               "nothing written).\n") +
                           kStoreOptions;
  if (!a.parse(static_cast<int>(args.size()), args.data(), kStoreFlags, help)) return a.exit_code;
  auto loaded = model::loadCluster(a.paths, a.cluster);  // the whole set, as the agents will
  printDiagnostics(loaded.diags);
  if (!loaded.diags.ok()) return kExitBadInput;
  auto objs = readObjects(a.paths);
  if (!objs) return kExitBadInput;
  auto store = openStore(a);
  if (!store) return kExitBadInput;
  auto rev = kv::applyObjects(*store->client, store->layout, *objs);
  if (!rev) return storeError(rev.error());
  for (const auto& o : *objs) std::cout << o.identity << " applied\n";
  std::cout << "revision " << *rev << "\n";
  return kExitOk;
}

int cmdDelete(int argc, char** argv) {
  auto args = fileArgsAsPaths(argc, argv);
  Args a;
  const std::string help =
      std::string(
          "membrane delete -f FILE|DIR [-f ...] [store options]\n"
          "  Deletes the objects the files name (kind, namespace, name), all or none: an object\n"
          "  that is not stored, or whose resourceVersion (when given) moved, deletes nothing.\n") +
      kStoreOptions;
  if (!a.parse(static_cast<int>(args.size()), args.data(), kStoreFlags, help)) return a.exit_code;
  auto objs = readObjects(a.paths);
  if (!objs) return kExitBadInput;
  auto store = openStore(a);
  if (!store) return kExitBadInput;
  auto rev = kv::deleteObjects(*store->client, store->layout, *objs);
  if (!rev) return storeError(rev.error());
  for (const auto& o : *objs) std::cout << o.identity << " deleted\n";
  std::cout << "revision " << *rev << "\n";
  return kExitOk;
}

namespace {

// kubectl's names for the kinds membrane stores: singular, plural and short forms.
std::string canonicalKind(const std::string& k) {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kinds = {
      {"Namespace", {"namespace", "namespaces", "ns"}},
      {"Node", {"node", "nodes", "no"}},
      {"Pod", {"pod", "pods", "po"}},
      {"Deployment", {"deployment", "deployments", "deploy"}},
      {"ReplicaSet", {"replicaset", "replicasets", "rs"}},
      {"StatefulSet", {"statefulset", "statefulsets", "sts"}},
      {"DaemonSet", {"daemonset", "daemonsets", "ds"}},
      {"Service", {"service", "services", "svc"}},
      {"EndpointSlice", {"endpointslice", "endpointslices"}},
      {"NetworkPolicy", {"networkpolicy", "networkpolicies", "netpol"}},
      {"CiliumNetworkPolicy", {"ciliumnetworkpolicy", "ciliumnetworkpolicies", "cnp"}},
      {"CiliumClusterwideNetworkPolicy",
       {"ciliumclusterwidenetworkpolicy", "ciliumclusterwidenetworkpolicies", "ccnp"}},
      {"CiliumCIDRGroup", {"ciliumcidrgroup", "ciliumcidrgroups"}},
  };
  std::string lower;
  for (char c : k) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [kind, names] : kinds) {
    for (const auto& n : names) {
      if (n == lower) return kind;
    }
  }
  return "";
}

nlohmann::json withRevision(const kv::StoredObject& o) {
  nlohmann::json j = nlohmann::json::parse(o.yaml, nullptr, false);
  if (!j.is_object()) j = nlohmann::json::object();  // not written by membrane apply
  j["metadata"]["resourceVersion"] = std::to_string(o.revision);
  return j;
}

bool looksLikeNonString(const std::string& s) {
  int64_t i = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
  return s.empty() || s == "true" || s == "false" || s == "null" || s == "~" ||
         (ec == std::errc() && p == s.data() + s.size());
}

// JSON -> YAML, quoting the strings a YAML reader would take for numbers, booleans or null.
void emitYaml(YAML::Emitter& e, const nlohmann::json& j) {
  if (j.is_object()) {
    e << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      e << YAML::Key << k << YAML::Value;
      emitYaml(e, v);
    }
    e << YAML::EndMap;
  } else if (j.is_array()) {
    e << YAML::BeginSeq;
    for (const auto& v : j) emitYaml(e, v);
    e << YAML::EndSeq;
  } else if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (looksLikeNonString(s)) e << YAML::DoubleQuoted;
    e << s;
  } else if (j.is_null()) {
    e << YAML::Null;
  } else {
    e << j.dump();
  }
}

}  // namespace

int cmdGet(int argc, char** argv) {
  Args a;
  const std::string help =
      std::string(
          "membrane get KIND [NAME] [-n NS | -A] [-o yaml|json] [store options]\n"
          "  Stored objects of KIND (kubectl's names: pods, netpol, cnp, ccnp, ...) in\n"
          "  namespace NS (default \"default\"; -A every namespace) with their resourceVersion\n"
          "  (the etcd revision an apply with that resourceVersion compares to).\n"
          "  Without -o: a table NAMESPACE NAME RESOURCEVERSION. Exit 1 when NAME is not "
          "found.\n") +
      kStoreOptions;
  std::initializer_list<std::string> flags = {"--etcd-endpoints=",
                                              "--etcd-prefix=",
                                              "--etcd-ca=",
                                              "--etcd-cert=",
                                              "--etcd-key=",
                                              "--etcd-timeout-ms=",
                                              "-n=",
                                              "--namespace=",
                                              "-A",
                                              "--all-namespaces"};
  if (!a.parse(argc, argv, flags, help)) return a.exit_code;
  if (a.paths.size() > 2) {
    std::cerr << "error: expected KIND [NAME], got " << a.paths.size() << " arguments\n";
    return kExitBadInput;
  }
  const std::string kind = canonicalKind(a.paths[0]);
  if (kind.empty()) {
    std::cerr << "error: unknown kind \"" << a.paths[0]
              << "\" (expected pods, deployments, services, netpol, cnp, ccnp, namespaces, ...)\n";
    return kExitBadInput;
  }
  if (a.output != "txt" && a.output != "yaml" && a.output != "json") {
    std::cerr << "error: -o: \"" << a.output << "\" is not one of yaml, json\n";
    return kExitBadInput;
  }
  const bool all = a.flags.count("-A") || a.flags.count("--all-namespaces");
  std::string ns = a.values.count("-n") ? a.values["-n"] : a.values["--namespace"];
  if (ns.empty() && !all) ns = "default";
  const std::string name = a.paths.size() > 1 ? a.paths[1] : "";
  auto store = openStore(a);
  if (!store) return kExitBadInput;
  auto objs = kv::listObjects(*store->client, store->layout, kind, all ? "" : ns, name);
  if (!objs) return storeError(objs.error());
  if (!name.empty() && objs->empty()) {
    std::cerr << "error: " << kind << " \"" << name << "\" not found"
              << (all ? "" : " (namespace \"" + ns + "\" unless cluster-scoped)") << "\n";
    return kExitFailed;
  }
  if (a.output == "yaml") {
    for (size_t i = 0; i < objs->size(); ++i) {
      YAML::Emitter e;
      emitYaml(e, withRevision((*objs)[i]));
      std::cout << (i ? "---\n" : "") << e.c_str() << "\n";
    }
  } else if (a.output == "json") {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& o : *objs) items.push_back(withRevision(o));
    nlohmann::json out =
        name.empty() ? nlohmann::json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}}
                     : items[0];
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "KIND/NAMESPACE/NAME  RESOURCEVERSION\n";
    for (const auto& o : *objs) std::cout << o.identity << "  " << o.revision << "\n";
  }
  return kExitOk;
}

}  // namespace membrane::cmd
