// SPDX-License-Identifier: Apache-2.0
// lb_bench: services in the datapath.
//  lookup  per-packet cost of an established flow to a service VIP against the same flow sent
//          straight to its backend, at 1 / 1,000 / 10,000 services (same program, same run),
//          and the empty tc program. BPF_PROG_TEST_RUN reuses one skb for all repetitions and
//          the DNAT rewrites it, so every packet is its own test_run (repeat 1); the kernel's
//          per-run timer overhead is in every column alike, the difference is the service cost.
//  update  one endpoint change (a backend replaced) at 10,000 services: LbWriter::apply of the
//          whole desired state against iptables-restore of the same change laid out as
//          kube-proxy writes it (KUBE-SERVICES / KUBE-SVC-* / KUBE-SEP-*), full table and
//          --noflush with only KUBE-SERVICES and the changed chains (MinimizeIPTablesRestore),
//          in a private network namespace.
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "bench/bpf/bench_common.h"
#include "dataplane/datapath.h"
#include "dataplane/ipcache_writer.h"
#include "dataplane/lb_writer.h"
#include "dataplane/netns.h"
#include "dataplane/packet.h"
#include "dataplane/policy_writer.h"

namespace membrane::dataplane {
namespace {

using bench::must;

constexpr uint32_t kPod = ipv4Addr(10, 0, 0, 1);
constexpr uint32_t kBackend = ipv4Addr(10, 0, 1, 1);
constexpr uint32_t kVip0 = ipv4Addr(10, 96, 0, 1);
constexpr uint16_t kEndpoint = 1;
constexpr model::IdentityId kPeerId = 2001;

uint32_t vipOf(size_t i) { return kVip0 + static_cast<uint32_t>(i); }
uint32_t backendOf(size_t i, int which) {
  return ipv4Addr(10, static_cast<uint8_t>(1 + which), 0, 0) + static_cast<uint32_t>(i) + 1;
}

// n services of two backends each; service 0 is the measured one, to kBackend:80.
ServiceState servicesOf(size_t n) {
  ServiceState s;
  s[{.vip = kVip0, .port = 80, .proto = 6}] = {.backends = {{.ip = kBackend, .port = 80}}};
  for (size_t i = 1; i < n; ++i) {
    s[{.vip = vipOf(i), .port = 80, .proto = 6}] = {
        .backends = {{.ip = backendOf(i, 0), .port = 8080}, {.ip = backendOf(i, 1), .port = 8080}}};
  }
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median ns of `runs` single-packet test runs.
double nsSingle(int fd, const std::vector<uint8_t>& pkt, int runs) {
  std::vector<double> v;
  for (int i = 0; i < runs; ++i) v.push_back(must(testRunTc(fd, pkt, 1), "test run").duration_ns);
  return median(v);
}

void lookupTable(int runs) {
  auto base = must(BaselineProgram::load(), "load baseline");
  std::printf(
      "service lookup, established TCP flow leaving the pod, median of %d single-packet "
      "test runs (ns include the kernel's per-run timer)\n",
      runs);
  std::printf("%-9s %10s %10s %10s %12s %8s\n", "services", "via VIP", "direct", "empty",
              "VIP-direct", "ratio");
  for (size_t n : {size_t{1}, size_t{1000}, size_t{10000}}) {
    DatapathConfig cfg;
    cfg.trace_forward = MEMBRANE_TRACE_NONE;
    cfg.ct_size = 65536;
    auto dp = must(Datapath::load(cfg), "load datapath");
    EndpointWriter eps(dp->endpoints());
    must(eps.apply({{kPod, {.endpoint_id = kEndpoint, .identity = 1001, .ifindex = 0}}}), "eps");
    IpcacheWriter ipc(dp->ipcache());
    must(ipc.apply({{{.addr = kBackend, .len = 32}, {.identity = kPeerId}},
                    {{.addr = kPod, .len = 32}, {.identity = 1001}}}),
         "ipcache");
    PolicyWriter pw(dp->policyStore());
    must(pw.apply(kEndpoint, bench::policyOf(10, kPeerId, 80)), "policy");
    LbWriter lb(dp->lbMaps());
    must(lb.apply(servicesOf(n)), "services");
    const int fd = dp->programFd(Program::FromContainer);
    PacketSpec via{.saddr = kPod,
                   .daddr = kVip0,
                   .protocol = 6,
                   .sport = 40000,
                   .dport = 80,
                   .tcp_flags = kTcpSyn};
    PacketSpec direct = via;
    direct.daddr = kBackend;
    direct.sport = 40001;
    for (PacketSpec* p : {&via, &direct}) {  // SYN: creates the entries; then ACKs
      if (must(testRunTc(fd, buildIpv4Frame(*p), 1), "syn").retval != 0)
        bench::die("flow", Error{.code = EPERM, .context = "SYN dropped"});
      p->tcp_flags = kTcpAck;
    }
    const double v = nsSingle(fd, buildIpv4Frame(via), runs);
    const double d = nsSingle(fd, buildIpv4Frame(direct), runs);
    const double e = nsSingle(base->fd(), buildIpv4Frame(direct), runs);
    std::printf("%-9zu %10.1f %10.1f %10.1f %12.1f %8.2f\n", n, v, d, e, v - d, v / d);
  }
}

// --- iptables, kube-proxy's layout ----------------------------------------------------------

std::string svcChain(size_t i) { return "KUBE-SVC-" + std::to_string(100000000 + i); }
std::string sepChain(uint32_t ip) { return "KUBE-SEP-" + std::to_string(ip); }

void sepRules(std::string& out, uint32_t ip) {
  const std::string c = sepChain(ip), a = ipv4String(ip);
  out += "-A " + c + " -s " + a + "/32 -j KUBE-MARK-MASQ\n";
  out += "-A " + c + " -p tcp -m tcp -j DNAT --to-destination " + a + ":8080\n";
}

void svcRules(std::string& out, size_t i, uint32_t b0, uint32_t b1) {
  out += "-A " + svcChain(i) + " -m statistic --mode random --probability 0.50000000000 -j " +
         sepChain(b0) + "\n";
  out += "-A " + svcChain(i) + " -j " + sepChain(b1) + "\n";
}

std::string servicesChain(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += "-A KUBE-SERVICES -d " + ipv4String(vipOf(i)) +
           "/32 -p tcp -m comment --comment \"ns/svc" + std::to_string(i) +
           ":http cluster IP\" -m tcp --dport 80 -j " + svcChain(i) + "\n";
  }
  return out;
}

// The whole nat table with service `changed` on backends (b0, b1').
std::string fullTable(size_t n, size_t changed, uint32_t b1) {
  std::string decl =
      "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
      ":KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n";
  std::string rules =
      "-A PREROUTING -j KUBE-SERVICES\n-A OUTPUT -j KUBE-SERVICES\n"
      "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n";
  for (size_t i = 0; i < n; ++i) {
    const uint32_t b0 = backendOf(i, 0), bb = i == changed ? b1 : backendOf(i, 1);
    decl += ":" + svcChain(i) + " - [0:0]\n:" + sepChain(b0) + " - [0:0]\n:" + sepChain(bb) +
            " - [0:0]\n";
    svcRules(rules, i, b0, bb);
    sepRules(rules, b0);
    sepRules(rules, bb);
  }
  return decl + rules + servicesChain(n) + "COMMIT\n";
}

// --noflush: KUBE-SERVICES and the changed chains rewritten, the old endpoint chain deleted.
std::string deltaTable(size_t n, size_t changed, uint32_t old_b1, uint32_t new_b1) {
  // Declaring a chain flushes it; -X needs the old endpoint chain empty, as kube-proxy does.
  std::string out = "*nat\n:KUBE-SERVICES - [0:0]\n:" + svcChain(changed) +
                    " - [0:0]\n:" + sepChain(new_b1) + " - [0:0]\n:" + sepChain(old_b1) +
                    " - [0:0]\n";
  svcRules(out, changed, backendOf(changed, 0), new_b1);
  sepRules(out, new_b1);
  out += servicesChain(n);
  out += "-X " + sepChain(old_b1) + "\n";
  return out + "COMMIT\n";
}

// The private namespace and scratch directory of this run: removed at exit, also when a step
// fails (bench::die exits without unwinding).
std::string g_ns, g_dir;
void removeScratch() {
  if (!g_dir.empty()) runQuiet("rm -rf " + g_dir);
  if (!g_ns.empty()) runQuiet("ip netns del " + g_ns);
}

double restoreMs(const std::string& ns, const std::string& tool, const std::string& flags,
                 const std::string& path) {
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = runQuiet("ip netns exec " + ns + " " + tool + " " + flags + " < " + path);
  const auto t1 = std::chrono::steady_clock::now();
  if (rc != 0) bench::die(tool, Error{.code = EIO, .context = tool + " " + flags + " failed"});
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

void writeFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

void updateTable(size_t n, int rounds) {
  std::printf("one endpoint change (a backend replaced) at %zu services, median of %d\n", n,
              rounds);
  // membrane: LbWriter::apply of the whole desired state, kernel maps.
  {
    DatapathConfig cfg;
    auto dp = must(Datapath::load(cfg), "load datapath");
    LbWriter lb(dp->lbMaps());
    ServiceState s = servicesOf(n);
    const auto t0 = std::chrono::steady_clock::now();
    must(lb.apply(s), "services");
    const double initial =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::vector<double> v;
    const LbFrontend f{.vip = vipOf(n / 2), .port = 80, .proto = 6};
    for (int r = 0; r < rounds; ++r) {
      s[f].backends[1].ip = r % 2 == 0 ? ipv4Addr(10, 9, 9, 9) : backendOf(n / 2, 1);
      const auto a = std::chrono::steady_clock::now();
      auto c = must(lb.apply(s), "change");
      v.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
      if (c.upserted.size() != 1) bench::die("change", Error{.code = EIO, .context = "not 1"});
    }
    std::printf("  membrane LbWriter::apply      %8.2f ms   (initial %zu services: %.0f ms)\n",
                median(v), n, initial);
  }
  const std::string ns = "mblbb" + std::to_string(getpid());
  if (runQuiet("ip netns add " + ns) != 0) {
    std::printf("  (cannot create a network namespace: iptables rows skipped)\n");
    return;
  }
  const std::string dir = "/tmp/" + ns;
  g_ns = ns;
  g_dir = dir;
  std::atexit(removeScratch);
  runQuiet("mkdir -p " + dir);
  const uint32_t orig = backendOf(n / 2, 1), repl = ipv4Addr(10, 9, 9, 9);
  writeFile(dir + "/full0", fullTable(n, n / 2, orig));
  writeFile(dir + "/full1", fullTable(n, n / 2, repl));
  writeFile(dir + "/delta01", deltaTable(n, n / 2, orig, repl));
  writeFile(dir + "/delta10", deltaTable(n, n / 2, repl, orig));
  std::vector<double> spawn;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    runQuiet("ip netns exec " + ns + " true");
    spawn.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  for (const std::string tool : {"iptables-nft-restore", "iptables-legacy-restore"}) {
    if (runQuiet(tool + " --version") != 0) continue;
    restoreMs(ns, tool, "", dir + "/full0");
    std::vector<double> full, delta;
    for (int r = 0; r < rounds; ++r)
      full.push_back(restoreMs(ns, tool, "", dir + (r % 2 ? "/full0" : "/full1")));
    restoreMs(ns, tool, "", dir + "/full0");
    for (int r = 0; r < rounds; ++r)
      delta.push_back(restoreMs(ns, tool, "--noflush", dir + (r % 2 ? "/delta10" : "/delta01")));
    std::printf("  %-24s full %8.2f ms, --noflush changed chains %8.2f ms\n", tool.c_str(),
                median(full), median(delta));
    runQuiet("ip netns exec " + ns + " " +
             std::string(tool == "iptables-nft-restore" ? "iptables-nft" : "iptables-legacy") +
             " -t nat -F");
    runQuiet("ip netns exec " + ns + " " +
             std::string(tool == "iptables-nft-restore" ? "iptables-nft" : "iptables-legacy") +
             " -t nat -X");
  }
  std::printf("  (each iptables figure includes `ip netns exec` + exec: %.2f ms for `true`)\n",
              median(spawn));
  removeScratch();
  g_ns.clear();
  g_dir.clear();
}

}  // namespace
}  // namespace membrane::dataplane

int main(int argc, char** argv) {
  const std::string only = argc > 1 ? argv[1] : "";
  if (only == "--help" || argc > 2 || (!only.empty() && only != "lookup" && only != "update")) {
    std::fprintf(stderr,
                 "usage: lb_bench [lookup|update]  (root; default: both)\n"
                 "  MEMBRANE_BENCH_QUICK=1: 2,000 packet runs and 3 update rounds\n"
                 "exit: 0 done, 1 a step failed, 2 not root or bad usage\n");
    return only == "--help" ? 0 : 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "lb_bench: needs root (BPF_PROG_TEST_RUN, netns)\n");
    return 2;
  }
  const bool quick = membrane::dataplane::bench::quick();
  if (only.empty() || only == "lookup") membrane::dataplane::lookupTable(quick ? 2000 : 20000);
  if (only.empty() || only == "update") membrane::dataplane::updateTable(10000, quick ? 3 : 7);
  return 0;
}
