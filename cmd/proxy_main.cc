// SPDX-License-Identifier: Apache-2.0
// membrane-proxy: the node's L7 (HTTP/1.1, HTTP/2, gRPC) proxy (docs/l7.md). The agent starts and
// supervises it; it serves the redirected connections of L7-restricted policy entries.
#include <signal.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>

#include "proxy/access_log.h"
#include "proxy/http_proxy.h"
#include "proxy/redirect.h"

namespace {

using membrane::proxy::AccessRecord;
using membrane::proxy::HttpProxy;
using membrane::proxy::ProxyConfig;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;    // could not start: rules file, socket options, bind
constexpr int kExitBadInput = 2;  // invalid usage

void usage(std::ostream& out) {
  out << "membrane-proxy - membrane's per-node L7 proxy (HTTP/1.1; HTTP/2 and gRPC with prior "
         "knowledge)\n\n"
         "Usage: membrane-proxy --rules FILE [OPTIONS]\n\n"
         "Options:\n"
         "  --rules FILE              L7 rules and ipcache written by the agent (JSON, "
         "docs/l7.md);\n"
         "                            re-read when it changes; missing = everything denied\n"
         "  --port N                  listening port (default 15001; 0 = any free port)\n"
         "  --listen ADDR             listening address (default 0.0.0.0)\n"
         "  --no-transparent          plain listener (no IP_TRANSPARENT; tests on loopback)\n"
         "  --upstream-original-source  bind upstream connections to the client's address\n"
         "  --header-timeout-ms N     a request header must arrive within N ms (default 10000)\n"
         "  --idle-timeout-ms N       any other read or write (default 60000)\n"
         "  --header-limit N          request header bytes; larger gets 431 (default 16384)\n"
         "  --threads N               worker threads (default 1)\n"
         "  --max-connections N       connections served at once; more are closed at\n"
         "                            accept (default 4096)\n"
         "  --access-log FILE         append one JSON line per request (default: stdout)\n"
         "  --ready-file FILE         write the bound port here once listening\n"
         "  --install-redirect        install the node's TPROXY plumbing for --port once\n"
         "                            listening (ip rule/route table 2004, mangle chain\n"
         "                            MEMBRANE_PROXY; docs/l7.md); left in place on exit\n"
         "  --uninstall-redirect      remove that plumbing and exit\n"
         "  -h, --help                this help\n\n"
         "SIGTERM/SIGINT stop the proxy.\n\n"
         "Exit codes:\n"
         "  0  stopped by SIGTERM/SIGINT\n"
         "  1  could not start (rules file invalid, socket option, bind, redirect plumbing)\n"
         "  2  invalid usage\n";
}

bool parseNumber(const std::string& s, long max, long* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out >= 0 && *out <= max;
}

struct Options {
  ProxyConfig cfg;
  std::string access_log;
  std::string ready_file;
  bool install_redirect = false;
  bool uninstall_redirect = false;
};

// Returns -1 to continue, else the exit code.
int parseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    auto number = [&](long max, long* out) {
      std::string v;
      return value(&v) && parseNumber(v, max, out);
    };
    long n = 0;
    bool ok = true;
    if (a == "-h" || a == "--help") {
      usage(std::cout);
      return kExitOk;
    } else if (a == "--rules") {
      ok = value(&o.cfg.rules_file);
    } else if (a == "--listen") {
      ok = value(&o.cfg.listen_address);
    } else if (a == "--access-log") {
      ok = value(&o.access_log);
    } else if (a == "--ready-file") {
      ok = value(&o.ready_file);
    } else if (a == "--install-redirect") {
      o.install_redirect = true;
    } else if (a == "--uninstall-redirect") {
      o.uninstall_redirect = true;
    } else if (a == "--no-transparent") {
      o.cfg.transparent = false;
    } else if (a == "--upstream-original-source") {
      o.cfg.upstream_original_source = true;
    } else if (a == "--port") {
      ok = number(65535, &n) && (o.cfg.port = static_cast<uint16_t>(n), true);
    } else if (a == "--header-timeout-ms") {
      ok = number(3600000, &n) && n > 0 &&
           (o.cfg.header_timeout = std::chrono::milliseconds(n), true);
    } else if (a == "--idle-timeout-ms") {
      ok = number(86400000, &n) && n > 0 &&
           (o.cfg.idle_timeout = std::chrono::milliseconds(n), true);
    } else if (a == "--header-limit") {
      ok =
          number(1 << 20, &n) && n >= 1024 && (o.cfg.header_limit = static_cast<uint32_t>(n), true);
    } else if (a == "--max-connections") {
      ok =
          number(1 << 20, &n) && n >= 1 && (o.cfg.max_connections = static_cast<uint32_t>(n), true);
    } else if (a == "--threads") {
      ok = number(64, &n) && n >= 1 && (o.cfg.threads = static_cast<int>(n), true);
    } else {
      std::cerr << "membrane-proxy: unknown option " << a << " (see --help)\n";
      return kExitBadInput;
    }
    if (!ok) {
      std::cerr << "membrane-proxy: " << a << ": missing or invalid value (see --help)\n";
      return kExitBadInput;
    }
  }
  if (o.uninstall_redirect) return -1;
  if (o.cfg.rules_file.empty()) {
    std::cerr << "membrane-proxy: --rules FILE is required (see --help)\n";
    return kExitBadInput;
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (int rc = parseArgs(argc, argv, o); rc >= 0) return rc;
  if (o.uninstall_redirect) {
    membrane::proxy::uninstallRedirect();
    return kExitOk;
  }
  std::ofstream file;
  if (!o.access_log.empty()) {
    file.open(o.access_log, std::ios::app);
    if (!file) {
      std::cerr << "membrane-proxy: cannot open access log " << o.access_log << "\n";
      return kExitFailed;
    }
  }
  std::ostream& log = o.access_log.empty() ? std::cout : file;
  std::mutex log_mu;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // worker threads inherit the mask
  ::signal(SIGPIPE, SIG_IGN);
  HttpProxy proxy(o.cfg, {}, [&](const AccessRecord& r) {
    std::lock_guard<std::mutex> l(log_mu);
    log << membrane::proxy::accessRecordJson(r) << std::endl;
  });
  auto port = proxy.start();
  if (!port) {
    std::cerr << "membrane-proxy: " << port.error().str() << "\n";
    return kExitFailed;
  }
  if (o.install_redirect) {
    if (std::string err = membrane::proxy::installRedirect(*port); !err.empty()) {
      std::cerr << "membrane-proxy: installing the redirect: " << err << "\n";
      proxy.stop();
      return kExitFailed;
    }
  }
  if (!o.ready_file.empty()) {
    // Written after listen(): whoever waits on this file can connect at once.
    const std::string tmp = o.ready_file + ".tmp";
    std::ofstream(tmp) << *port << "\n";
    std::rename(tmp.c_str(), o.ready_file.c_str());
  }
  std::cerr << "membrane-proxy: listening on " << o.cfg.listen_address << ":" << *port << " (rules "
            << o.cfg.rules_file << ")\n";
  int sig = 0;
  sigwait(&set, &sig);
  proxy.stop();
  return kExitOk;
}
