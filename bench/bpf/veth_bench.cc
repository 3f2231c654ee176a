// SPDX-License-Identifier: Apache-2.0
// veth_bench: real TCP traffic through a veth pair between two namespaces, bare vs the same
// policy as iptables rules vs membrane, at 10 / 1,000 / 10,000 rules, as ratios to the bare
// veth measured in the same run. TCP_RR: one connection, 1-byte request/response;
// TCP_CRR: connect, one request/response, close (every transaction is a new flow).
// Client and server share one CPU (request/response becomes direct context switches, less
// sensitive to other load); for each rule count the three modes alternate in 5 rounds and
// the medians are reported. MEMBRANE_BENCH_QUICK=1 uses 0.1 s slices instead of 0.3 s.
// `veth_bench services`: TCP_CRR to a ClusterIP at 1,000 and 10,000 services, kube-proxy's
// iptables chains (nat KUBE-SERVICES -> KUBE-SVC-* -> KUBE-SEP-* DNAT) against membrane's
// service maps, both against connecting to the backend directly, same run.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
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

constexpr uint32_t kPod = ipv4Addr(10, 78, 0, 1);     // client, namespace a
constexpr uint32_t kServer = ipv4Addr(10, 78, 0, 2);  // namespace b (host side of the veth)
constexpr uint16_t kPort = 5000;
constexpr model::IdentityId kServerId = 2001;

void pinToCpu0() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  sched_setaffinity(0, sizeof(set), &set);  // best effort
}

sockaddr_in serverAddr() {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(kServer);
  sa.sin_port = htons(kPort);
  return sa;
}

// Sequential echo server: one connection at a time, 1-byte echoes until EOF.
class Server {
 public:
  explicit Server(const std::string& ns) {
    fd_ = must(socketInNetns(ns, SOCK_STREAM), "server socket");
    const int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    auto sa = serverAddr();
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || listen(fd_, 64) != 0) {
      bench::die("server", errnoError(errno, "bind/listen"));
    }
    thread_ = std::thread([this] {
      pinToCpu0();
      for (;;) {
        const int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;  // shut down
        const int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        char b;
        while (read(c, &b, 1) == 1 && write(c, &b, 1) == 1) {
        }
        close(c);
      }
    });
  }
  ~Server() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }

 private:
  int fd_ = -1;
  std::thread thread_;
};

sockaddr_in g_target = serverAddr();  // where the client connects (a VIP in services mode)

int connectOnce() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const linger lg{.l_onoff = 1, .l_linger = 0};  // RST on close: no TIME_WAIT pile-up
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  timeval tv{.tv_sec = 1, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in sa = g_target;
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool transact(int fd) {
  char b = 'x';
  return write(fd, &b, 1) == 1 && read(fd, &b, 1) == 1;
}

// Transactions per second, the client running inside namespace `ns`.
double measure(const std::string& ns, bool new_connection_each, double seconds) {
  uint64_t n = 0;
  bool failed = false;
  must(runInNetns(ns,
                  [&] {
                    pinToCpu0();
                    using Clock = std::chrono::steady_clock;
                    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
                    int fd = new_connection_each ? -1 : connectOnce();
                    while (Clock::now() < end) {
                      if (new_connection_each) fd = connectOnce();
                      if (fd < 0 || !transact(fd)) {
                        failed = true;
                        break;
                      }
                      ++n;
                      if (new_connection_each) close(fd);
                    }
                    if (!new_connection_each && fd >= 0) close(fd);
                  }),
       "client");
  if (failed && n == 0) return 0;
  return static_cast<double>(n) / seconds;
}

// The same allow list as iptables rules in the receiving namespace, as an iptables-based
// CNI writes them: established/related first, one rule per allowed peer and port (the
// measured flow's rule last), then drop.
void installIptables(const VethPair& pair, size_t rules) {
  const std::string path = "/tmp/" + pair.nsB() + "-rules";
  {
    std::ofstream f(path);
    f << "*filter\n:INPUT ACCEPT [0:0]\n:MEMBRANE - [0:0]\n";
    f << "-A INPUT -i " << pair.devB() << " -j MEMBRANE\n";
    f << "-A MEMBRANE -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n";
    for (size_t i = 1; i < rules; ++i) {
      f << "-A MEMBRANE -s " << formatIpv4(ipv4Addr(10, 200, 0, 0) + static_cast<uint32_t>(i))
        << "/32 -p tcp --dport " << (1024 + i % 60000) << " -j ACCEPT\n";
    }
    f << "-A MEMBRANE -s " << formatIpv4(kPod) << "/32 -p tcp --dport " << kPort
      << " -j ACCEPT\n-A MEMBRANE -j DROP\nCOMMIT\n";
  }
  const int rc = runQuiet("ip netns exec " + pair.nsB() + " iptables-legacy-restore < " + path);
  std::remove(path.c_str());
  if (rc != 0) bench::die("iptables", Error{.code = EIO, .context = "iptables-legacy-restore"});
}

void flushIptables(const VethPair& pair) {
  runQuiet("ip netns exec " + pair.nsB() + " iptables-legacy -F");
  runQuiet("ip netns exec " + pair.nsB() + " iptables-legacy -X");
}

struct MembraneSetup {
  std::unique_ptr<Datapath> dp;
  std::unique_ptr<TcAttachment> attachment;
};

MembraneSetup installMembrane(const VethPair& pair, size_t rules) {
  MembraneSetup m;
  m.dp = must(Datapath::load({.trace_forward = MEMBRANE_TRACE_NONE}), "load datapath");
  EndpointWriter eps(m.dp->endpoints());
  must(eps.apply({{kPod,
                   {.endpoint_id = 1,
                    .identity = 1001,
                    .ifindex = static_cast<uint32_t>(pair.ifindexB())}}}),
       "endpoints");
  IpcacheWriter ipc(m.dp->ipcache());
  must(ipc.apply({{{.addr = kServer, .len = 32}, {.identity = kServerId}},
                  {{.addr = kPod, .len = 32}, {.identity = 1001}}}),
       "ipcache");
  PolicyWriter pw(m.dp->policyStore());
  must(pw.apply(1, bench::policyOf(rules, kServerId, kPort)), "policy");
  must(
      runInNetns(pair.nsB(), [&] { m.attachment = must(m.dp->attach(pair.ifindexB()), "attach"); }),
      "attach");
  return m;
}

// --- services: kube-proxy's iptables against membrane's service maps -------------------------

constexpr uint32_t kVip0 = ipv4Addr(10, 96, 0, 1);
constexpr uint16_t kVipPort = 80;

uint32_t vipOf(size_t i) { return kVip0 + static_cast<uint32_t>(i); }
// The measured service sits in the middle of the table (kube-proxy's KUBE-SERVICES order is
// by chain-name hash, so a service is on average half-way down the list).
size_t measuredOf(size_t n) { return n / 2; }
uint32_t otherBackend(size_t i, int which) {
  return ipv4Addr(10, static_cast<uint8_t>(201 + which), 0, 0) + static_cast<uint32_t>(i) + 1;
}

// kube-proxy's nat table: KUBE-SERVICES with a jump per service port, KUBE-SVC-* choosing an
// endpoint at random, KUBE-SEP-* marking hairpin traffic and doing the DNAT.
void installKubeProxy(const VethPair& pair, size_t n) {
  const std::string path = "/tmp/" + pair.nsB() + "-nat";
  std::ofstream f(path);
  f << "*nat\n:PREROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n";
  auto sep = [&](const std::string& name, uint32_t ip, uint16_t port) {
    f << ":" << name << " - [0:0]\n-A " << name << " -s " << formatIpv4(ip)
      << "/32 -j KUBE-MARK-MASQ\n-A " << name << " -p tcp -m tcp -j DNAT --to-destination "
      << formatIpv4(ip) << ":" << port << "\n";
  };
  for (size_t i = 0; i < n; ++i) {
    const std::string svc = "KUBE-SVC-" + std::to_string(100000000 + i);
    f << ":" << svc << " - [0:0]\n";
    if (i == measuredOf(n)) {
      const std::string e = "KUBE-SEP-M" + std::to_string(i);
      sep(e, kServer, kPort);
      f << "-A " << svc << " -j " << e << "\n";
    } else {
      const std::string a = "KUBE-SEP-A" + std::to_string(i), b = "KUBE-SEP-B" + std::to_string(i);
      sep(a, otherBackend(i, 0), 8080);
      sep(b, otherBackend(i, 1), 8080);
      f << "-A " << svc << " -m statistic --mode random --probability 0.5 -j " << a << "\n-A "
        << svc << " -j " << b << "\n";
    }
    f << "-A KUBE-SERVICES -d " << formatIpv4(vipOf(i)) << "/32 -p tcp -m tcp --dport " << kVipPort
      << " -j " << svc << "\n";
  }
  f << "-A PREROUTING -j KUBE-SERVICES\n-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\nCOMMIT\n";
  f.close();
  const int rc = runQuiet("ip netns exec " + pair.nsB() + " iptables-legacy-restore < " + path);
  std::remove(path.c_str());
  if (rc != 0) bench::die("iptables", Error{.code = EIO, .context = "iptables-legacy-restore"});
}

void flushKubeProxy(const VethPair& pair) {
  runQuiet("ip netns exec " + pair.nsB() + " iptables-legacy -t nat -F");
  runQuiet("ip netns exec " + pair.nsB() + " iptables-legacy -t nat -X");
}

ServiceState servicesOf(size_t n) {
  ServiceState st;
  for (size_t i = 0; i < n; ++i) {
    LbServiceSpec spec;
    if (i == measuredOf(n)) {
      spec.backends = {{.ip = kServer, .port = kPort}};
    } else {
      spec.backends = {{.ip = otherBackend(i, 0), .port = 8080},
                       {.ip = otherBackend(i, 1), .port = 8080}};
    }
    st[{.vip = vipOf(i), .port = kVipPort, .proto = 6}] = spec;
  }
  return st;
}

sockaddr_in vipAddr(size_t n) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(vipOf(measuredOf(n)));
  sa.sin_port = htons(kVipPort);
  return sa;
}

int servicesTable(VethPair& pair, double seconds) {
  const bool have_iptables = runQuiet("iptables-legacy -V") == 0;
  // The client reaches the VIPs through the veth, via the server end as gateway.
  runQuiet("ip -n " + pair.nsA() + " route add 10.96.0.0/12 via " + formatIpv4(kServer));
  std::printf(
      "TCP_CRR to a ClusterIP through a veth pair, median of 5 rounds of %.1f s; the\n"
      "measured service is in the middle of the table (one backend: the server)\n",
      seconds);
  std::printf("%-9s %-20s %12s %7s\n", "services", "mode", "TCP_CRR/s", "ratio");
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  bool failed = false;
  for (size_t n : {size_t{1000}, size_t{10000}}) {
    std::vector<double> crr[3];  // direct, iptables, membrane
    for (int round = 0; round < 5; ++round) {
      g_target = serverAddr();
      crr[0].push_back(measure(pair.nsA(), true, seconds));
      g_target = vipAddr(n);
      if (have_iptables) {
        installKubeProxy(pair, n);
        crr[1].push_back(measure(pair.nsA(), true, seconds));
        flushKubeProxy(pair);
      }
      auto m = installMembrane(pair, 10);
      LbWriter lb(m.dp->lbMaps());
      must(lb.apply(servicesOf(n)), "services");
      crr[2].push_back(measure(pair.nsA(), true, seconds));
    }
    const double base = median(crr[0]);
    const char* names[] = {"direct (no service)", "iptables kube-proxy", "membrane"};
    for (int i = 0; i < 3; ++i) {
      if (crr[i].empty()) continue;
      const double v = median(crr[i]);
      if (v == 0) {  // reported, not exit(): the veth pair's namespaces are removed on return
        std::fprintf(stderr, "veth_bench: %s: no connection succeeded\n", names[i]);
        failed = true;
        continue;
      }
      std::printf("%-9zu %-20s %12.0f %7.2f\n", n, names[i], v, v / base);
    }
  }
  g_target = serverAddr();
  if (!have_iptables) std::printf("(iptables-legacy not installed: iptables rows skipped)\n");
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace membrane::dataplane

int main(int argc, char** argv) {
  using namespace membrane::dataplane;
  if (geteuid() != 0) {
    std::fprintf(stderr, "veth_bench: needs root (netns, BPF, iptables)\n");
    return 2;
  }
  const double seconds = bench::quick() ? 0.1 : 0.3;
  const bool have_iptables = runQuiet("iptables-legacy -V") == 0;
  auto pair = bench::must(
      VethPair::create(
          {.prefix = "mbt" + std::to_string(getpid()) + "v-", .addr_a = kPod, .addr_b = kServer}),
      "veth pair");
  Server server(pair->nsB());
  if (argc > 1 && std::string(argv[1]) == "services") return servicesTable(*pair, seconds);
  if (argc > 1) {
    std::fprintf(stderr, "usage: veth_bench [services]\n");
    return 2;
  }
  std::printf("real TCP through a veth pair, median of 5 rounds of %.1f s, client in %s\n", seconds,
              pair->nsA().c_str());
  std::printf("%-6s %-9s %12s %7s %12s %7s\n", "rules", "mode", "TCP_RR/s", "ratio", "TCP_CRR/s",
              "ratio");
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  for (size_t rules : {size_t{10}, size_t{1000}, size_t{10000}}) {
    std::vector<double> rr[3], crr[3];  // bare, iptables, membrane
    for (int round = 0; round < 5; ++round) {
      rr[0].push_back(measure(pair->nsA(), false, seconds));
      crr[0].push_back(measure(pair->nsA(), true, seconds));
      if (have_iptables) {
        installIptables(*pair, rules);
        rr[1].push_back(measure(pair->nsA(), false, seconds));
        crr[1].push_back(measure(pair->nsA(), true, seconds));
        flushIptables(*pair);
      }
      auto m = installMembrane(*pair, rules);
      rr[2].push_back(measure(pair->nsA(), false, seconds));
      crr[2].push_back(measure(pair->nsA(), true, seconds));
    }
    const double base_rr = median(rr[0]), base_crr = median(crr[0]);
    const char* names[] = {"bare", "iptables", "membrane"};
    for (int i = 0; i < 3; ++i) {
      if (rr[i].empty()) continue;
      const double a = median(rr[i]), b = median(crr[i]);
      std::printf("%-6zu %-9s %12.0f %7.2f %12.0f %7.2f\n", rules, names[i], a, a / base_rr, b,
                  b / base_crr);
    }
  }
  if (!have_iptables) std::printf("(iptables-legacy not installed: iptables rows skipped)\n");
  return 0;
}
