// SPDX-License-Identifier: Apache-2.0
#include "dataplane/datapath.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>
#include <vector>

#include "bpf/baseline.skel.h"
#include "bpf/membrane_lxc.skel.h"
#include "dataplane/maglev.h"

namespace membrane::dataplane {

Status DatapathConfig::validate() const {
  auto bad = [](std::string what) { return Error{.code = EINVAL, .context = std::move(what)}; };
  if (trace_forward > MEMBRANE_TRACE_FORWARD) {
    return bad("trace_forward: expected 0 to 4 (MEMBRANE_TRACE_*)");
  }
  if (policy_map_size < 1 || max_endpoints < 1 || ipcache_size < 1 || endpoints_size < 1 ||
      ct_size < 1 || policy_cache_size < 1) {
    return bad("map sizes must be at least 1");
  }
  if (events_bytes < 4096 || (events_bytes & (events_bytes - 1)) != 0) {
    return bad("events_bytes: expected a power of two >= 4096");
  }
  if (profile_stop > 7) return bad("profile_stop: expected 0 to 7");
  if (max_endpoints > 65536) return bad("max_endpoints: endpoint ids are 16 bits");
  if (maglev_table_size < 7 || maglev_table_size > 1000003 || !isPrime(maglev_table_size)) {
    return bad("maglev_table_size " + std::to_string(maglev_table_size) +
               ": expected a prime from 7 to 1,000,003 (Maglev needs a prime table size)");
  }
  if (!bpffs_root.empty() && bpffs_root.front() != '/') return bad("bpffs_root: absolute path");
  return {};
}

Result<uint8_t> monitorAggregation(std::string_view level) {
  if (level == "none") return uint8_t{MEMBRANE_TRACE_ALL};
  if (level == "low") return uint8_t{MEMBRANE_TRACE_FORWARD};
  if (level == "medium") return uint8_t{MEMBRANE_TRACE_FLAGS};
  if (level == "maximum") return uint8_t{MEMBRANE_TRACE_NEW};
  return Error{.code = EINVAL,
               .context = "monitor aggregation '" + std::string(level) +
                          "': expected none, low, medium or maximum"};
}

std::string monitorAggregationName(uint8_t trace_forward) {
  switch (trace_forward) {
    case MEMBRANE_TRACE_ALL:
      return "none";
    case MEMBRANE_TRACE_FORWARD:
      return "low";
    case MEMBRANE_TRACE_FLAGS:
      return "medium";
    case MEMBRANE_TRACE_NEW:
      return "maximum";
    default:
      return "off";  // MEMBRANE_TRACE_NONE: no forwarded packet at all
  }
}

Status ensureBpffs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return errnoError(ec.value(), "create " + dir);
  struct statfs st {};
  if (statfs(dir.c_str(), &st) != 0) return errnoError(errno, "statfs " + dir);
  if (static_cast<unsigned long>(st.f_type) == BPF_FS_MAGIC) return {};
  if (mount("bpffs", dir.c_str(), "bpf", 0, "mode=0700") != 0) {
    return errnoError(errno, "mount bpffs at " + dir);
  }
  return {};
}

Result<TestRunResult> testRunTc(int prog_fd, std::span<const uint8_t> packet, uint32_t repeat,
                                uint32_t mark_in) {
  TestRunResult out;
  out.data_out.resize(packet.size() + 256);
  __sk_buff ctx_in{};
  ctx_in.mark = mark_in;
  __sk_buff ctx_out{};
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  opts.data_in = packet.data();
  opts.data_size_in = static_cast<uint32_t>(packet.size());
  opts.data_out = out.data_out.data();
  opts.data_size_out = static_cast<uint32_t>(out.data_out.size());
  opts.ctx_in = &ctx_in;
  opts.ctx_size_in = sizeof(ctx_in);
  opts.ctx_out = &ctx_out;
  opts.ctx_size_out = sizeof(ctx_out);
  opts.repeat = static_cast<int>(repeat);
  if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) {
    return errnoError(errno, "BPF_PROG_TEST_RUN");
  }
  out.retval = static_cast<int>(opts.retval);
  out.duration_ns = opts.duration;
  out.data_out.resize(opts.data_size_out);
  out.mark = ctx_out.mark;
  return out;
}

// --- tc attachment --------------------------------------------------------------------------

void TcAttachment::detach() {
  LIBBPF_OPTS(bpf_tc_hook, hook);
  hook.ifindex = ifindex_;
  for (auto point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
    if (point == BPF_TC_EGRESS && !egress_) continue;
    hook.attach_point = point;
    LIBBPF_OPTS(bpf_tc_opts, opts);
    opts.handle = handle_;
    opts.priority = priority_;
    bpf_tc_detach(&hook, &opts);
  }
  if (created_hook_) {
    hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
    bpf_tc_hook_destroy(&hook);
  }
}

TcAttachment::~TcAttachment() {
  if (netns_fd_ < 0) return;
  // ifindex is only meaningful in the namespace of attachment: detach from a thread that
  // joined it, never from whatever namespace the destructor happens to run in.
  std::thread([this] {
    if (setns(netns_fd_, CLONE_NEWNET) == 0) detach();
  }).join();
  close(netns_fd_);
}

namespace {
Result<std::unique_ptr<TcAttachment>> attachPlan(
    std::unique_ptr<TcAttachment> a, int ifindex,
    std::span<const std::pair<bpf_tc_attach_point, int>> plan, bool* created_hook, int* netns_fd) {
  LIBBPF_OPTS(bpf_tc_hook, hook);
  hook.ifindex = ifindex;
  hook.attach_point = BPF_TC_INGRESS;
  int rc = bpf_tc_hook_create(&hook);  // creates clsact (both directions)
  if (rc != 0 && rc != -EEXIST) {
    return errnoError(-rc, "create clsact on ifindex " + std::to_string(ifindex));
  }
  *created_hook = rc == 0;
  *netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (*netns_fd < 0) return errnoError(errno, "open own network namespace");
  for (const auto& [point, fd] : plan) {
    hook.attach_point = point;
    LIBBPF_OPTS(bpf_tc_opts, opts);
    opts.prog_fd = fd;
    opts.handle = 1;
    opts.priority = 1;
    rc = bpf_tc_attach(&hook, &opts);
    if (rc != 0) return errnoError(-rc, "attach to ifindex " + std::to_string(ifindex));
  }
  return a;
}
}  // namespace

Result<std::unique_ptr<TcAttachment>> Datapath::attach(int ifindex) const {
  std::unique_ptr<TcAttachment> a(new TcAttachment());
  a->ifindex_ = ifindex;
  a->handle_ = 1;
  a->priority_ = 1;
  const std::pair<bpf_tc_attach_point, int> plan[] = {
      {BPF_TC_INGRESS, programFd(Program::FromContainer)},
      {BPF_TC_EGRESS, programFd(Program::ToContainer)}};
  TcAttachment* raw = a.get();
  return attachPlan(std::move(a), ifindex, plan, &raw->created_hook_, &raw->netns_fd_);
}

Result<std::unique_ptr<TcAttachment>> Datapath::attachOverlay(int ifindex) const {
  std::unique_ptr<TcAttachment> a(new TcAttachment());
  a->ifindex_ = ifindex;
  a->handle_ = 1;
  a->priority_ = 1;
  const std::pair<bpf_tc_attach_point, int> plan[] = {
      {BPF_TC_INGRESS, programFd(Program::FromOverlay)}};
  a->egress_ = false;
  TcAttachment* raw = a.get();
  return attachPlan(std::move(a), ifindex, plan, &raw->created_hook_, &raw->netns_fd_);
}

// --- datapath -------------------------------------------------------------------------------

namespace {
// Every map that outlives the process when pinning is on. The decision cache and the
// generations go together: cached decisions without their generations would be wrong; so do
// conntrack and the revision its entries' verdicts were made under.
std::array<bpf_map*, 15> pinnedMaps(membrane_lxc* s) {
  return {s->maps.membrane_ipcache, s->maps.membrane_endpoints, s->maps.membrane_ct4,
          s->maps.membrane_policy, s->maps.membrane_metrics, s->maps.membrane_events,
          s->maps.membrane_policy_gen, s->maps.membrane_policy_cache, s->maps.membrane_proxy_ports,
          s->maps.membrane_revision,
          // Services: a restarted agent reuses their ids, and established service flows keep
          // their backends (CT entries name them by id).
          s->maps.membrane_lb4_services, s->maps.membrane_lb4_backends,
          s->maps.membrane_lb4_reverse_nat, s->maps.membrane_lb4_affinity,
          s->maps.membrane_lb4_maglev};
}
}  // namespace

namespace {
// libbpf's messages (ELF and relocation errors, warnings) of the load running on this thread
// go into its error; other threads and debug chatter keep libbpf's default (stderr).
thread_local std::string* libbpf_sink = nullptr;

int libbpfPrint(libbpf_print_level level, const char* fmt, va_list args) {
  if (libbpf_sink != nullptr && level != LIBBPF_DEBUG) {
    va_list copy;
    va_copy(copy, args);
    char line[1024];
    std::vsnprintf(line, sizeof(line), fmt, copy);
    va_end(copy);
    *libbpf_sink += line;
  }
  if (level == LIBBPF_DEBUG) return 0;
  return std::vfprintf(stderr, fmt, args);
}

// Everything a failed open or load can tell: libbpf's messages and the verifier's log (its
// last lines name the rejected instruction; the whole log of a big program is megabytes).
struct LoadDiagnostics {
  static constexpr size_t kVerifierLogBytes = 1 << 20;
  std::string libbpf;
  std::vector<char> verifier = std::vector<char>(kVerifierLogBytes, '\0');
  std::string source = "the embedded membrane_lxc object";

  LoadDiagnostics() {
    static std::once_flag once;
    std::call_once(once, [] { libbpf_set_print(libbpfPrint); });
    libbpf_sink = &libbpf;
  }
  ~LoadDiagnostics() { libbpf_sink = nullptr; }
  LoadDiagnostics(const LoadDiagnostics&) = delete;
  LoadDiagnostics& operator=(const LoadDiagnostics&) = delete;

  std::string describe(const std::string& what) const {
    constexpr size_t kTail = 4096;
    std::string log(verifier.data());
    if (log.size() > kTail) log = "..." + log.substr(log.size() - kTail);
    std::string out = what + " (" + source + ")";
    if (!libbpf.empty()) out += "\nlibbpf: " + libbpf;
    if (!log.empty()) out += "\nverifier log:\n" + log;
    return out;
  }
};

// The load-time knobs (const volatile rodata), set between open and load.
void setKnobs(membrane_lxc* s, const DatapathConfig& config) {
  s->rodata->cfg_trace_forward = config.trace_forward;
  s->rodata->cfg_drop_events = config.drop_events ? 1 : 0;
  s->rodata->cfg_anti_spoof = config.anti_spoof ? 1 : 0;
  s->rodata->cfg_event_wakeup = config.event_wakeup ? 1 : 0;
  s->rodata->cfg_policy_cache = config.policy_cache ? 1 : 0;
  s->rodata->cfg_policy_audit = config.policy_audit ? 1 : 0;
  s->rodata->cfg_ct_timeout_tcp_syn_s = config.ct_timeout_tcp_syn_s;
  s->rodata->cfg_ct_timeout_tcp_s = config.ct_timeout_tcp_s;
  s->rodata->cfg_ct_timeout_tcp_close_s = config.ct_timeout_tcp_close_s;
  s->rodata->cfg_ct_timeout_any_s = config.ct_timeout_any_s;
  s->rodata->cfg_tunnel_ifindex = config.tunnel_ifindex;
  s->rodata->cfg_profile_stop = config.profile_stop;
  s->rodata->cfg_lb_maglev_table_size = config.maglev_table_size;
  std::copy(config.tunnel_mac.begin(), config.tunnel_mac.end(), s->rodata->cfg_tunnel_mac);
}

// MEMBRANE_BPF_OBJECT=/path/x.bpf.o replaces the embedded object bytes (tests point the loader
// at a rejected object to see the failure reported). The skeleton binds programs and maps by
// name, so the file must define the same ones. `elf` must outlive the load.
Result<membrane_lxc*> openLxc(const bpf_object_open_opts* opts, std::vector<char>* elf,
                              LoadDiagnostics* diag) {
  const char* path = std::getenv("MEMBRANE_BPF_OBJECT");
  if (path != nullptr && *path != '\0') {
    std::ifstream in(path, std::ios::binary);
    if (!in) return errnoError(errno != 0 ? errno : ENOENT, std::string("open ") + path);
    elf->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    diag->source = std::string("MEMBRANE_BPF_OBJECT=") + path;
  }
  auto* obj = static_cast<membrane_lxc*>(calloc(1, sizeof(membrane_lxc)));
  if (obj == nullptr) return errnoError(ENOMEM, "allocate membrane_lxc skeleton");
  int rc = membrane_lxc__create_skeleton(obj);
  if (rc == 0 && !elf->empty()) {
    obj->skeleton->data = elf->data();
    obj->skeleton->data_sz = elf->size();
  }
  if (rc == 0) rc = bpf_object__open_skeleton(obj->skeleton, opts);
  if (rc != 0) {
    membrane_lxc__destroy(obj);
    return errnoError(-rc, diag->describe("open membrane_lxc"));
  }
  return obj;
}
}  // namespace

Datapath::~Datapath() {
  lb_maglev_.reset();
  lb_affinity_.reset();
  lb_rev_nat_.reset();
  lb_backends_.reset();
  lb_services_.reset();
  policy_store_.reset();
  proxy_ports_.reset();
  policy_.reset();
  ct_.reset();
  endpoints_.reset();
  ipcache_.reset();
  if (skel_ != nullptr) membrane_lxc__destroy(skel_);
}

Result<std::unique_ptr<Datapath>> Datapath::load(const DatapathConfig& config) {
  if (auto v = config.validate(); !v) return v.error();
  // Declared before dp: libbpf reads both until the load ends, and dp may close the object.
  LoadDiagnostics diag;
  std::vector<char> elf;
  std::unique_ptr<Datapath> dp(new Datapath());
  dp->config_ = config;
  if (!config.bpffs_root.empty()) {
    if (auto m = ensureBpffs(config.bpffs_root); !m) return m.error();
    std::error_code ec;
    std::filesystem::create_directories(config.pinDir(), ec);
    if (ec) return errnoError(ec.value(), "create " + config.pinDir());
  }
  LIBBPF_OPTS(bpf_object_open_opts, open_opts);
  open_opts.kernel_log_buf = diag.verifier.data();
  open_opts.kernel_log_size = diag.verifier.size();
  auto opened = openLxc(&open_opts, &elf, &diag);
  if (!opened) return opened.error();
  dp->skel_ = *opened;
  auto* s = dp->skel_;
  setKnobs(s, config);

  // libbpf frees the inner map template once the outer map exists: read it before load.
  bpf_map* inner = bpf_map__inner_map(s->maps.membrane_policy);
  const uint32_t inner_flags = inner != nullptr ? bpf_map__map_flags(inner) : 0;
  const std::pair<bpf_map*, uint32_t> sizes[] = {
      {s->maps.membrane_ipcache, config.ipcache_size},
      {s->maps.membrane_endpoints, config.endpoints_size},
      {s->maps.membrane_ct4, config.ct_size},
      {s->maps.membrane_policy, config.max_endpoints},
      {s->maps.membrane_policy_gen, config.max_endpoints},
      {s->maps.membrane_policy_cache, config.policy_cache_size},
      {s->maps.membrane_events, config.events_bytes}};
  // The inner template keeps its compiled size: the kernel does not compare max_entries of
  // LPM inner maps (bpf_map_meta_equal), so per-endpoint tries are created with
  // policy_map_size below. (libbpf 1.1 also cannot resize an inner template.)
  for (const auto& [map, n] : sizes) {
    if (map == nullptr) return Error{.code = EINVAL, .context = "skeleton lacks a map"};
    if (int rc = bpf_map__set_max_entries(map, n); rc != 0) {
      return errnoError(-rc, std::string("size map ") + bpf_map__name(map));
    }
  }
  if (!config.bpffs_root.empty()) {
    for (bpf_map* map : pinnedMaps(s)) {
      const std::string path = config.pinDir() + "/" + bpf_map__name(map);
      if (int rc = bpf_map__set_pin_path(map, path.c_str()); rc != 0) {
        return errnoError(-rc, "pin path " + path);
      }
    }
  }
  if (int rc = membrane_lxc__load(s); rc != 0) {
    return errnoError(-rc, diag.describe("load membrane_lxc"));
  }
  // A new program (or a restart over pinned maps) decides every established flow once more:
  // entries written by an older program or under state changed while nothing ran are not
  // trusted.
  const int revision_fd = bpf_map__fd(s->maps.membrane_revision);
  if (auto st = bumpRevision(revision_fd); !st) return st.error();
  dp->ipcache_ = std::make_unique<KernelMap>(bpf_map__fd(s->maps.membrane_ipcache), false);
  dp->endpoints_ = std::make_unique<KernelMap>(bpf_map__fd(s->maps.membrane_endpoints), false);
  // Writers of these maps change identities: established flows must be decided again.
  dp->ipcache_->setAfterWrite([revision_fd] { return bumpRevision(revision_fd); });
  dp->endpoints_->setAfterWrite([revision_fd] { return bumpRevision(revision_fd); });
  dp->ct_ = std::make_unique<KernelMap>(bpf_map__fd(s->maps.membrane_ct4), false);
  dp->policy_ = std::make_unique<KernelMap>(bpf_map__fd(s->maps.membrane_policy), false);
  dp->proxy_ports_ = std::make_unique<KernelMap>(bpf_map__fd(s->maps.membrane_proxy_ports), false);
  MapSpec inner_spec{.name = "membrane_pol_ep",
                     .type = BPF_MAP_TYPE_LPM_TRIE,
                     .key_size = sizeof(PolicyKey),
                     .value_size = sizeof(PolicyEntry),
                     .max_entries = config.policy_map_size,
                     .flags = inner_flags};
  dp->policy_store_ = std::make_unique<KernelPolicyMapStore>(
      dp->policy_->fd(), bpf_map__fd(s->maps.membrane_policy_gen), inner_spec, revision_fd);
  auto borrow = [](bpf_map* m) { return std::make_unique<KernelMap>(bpf_map__fd(m), false); };
  dp->lb_services_ = borrow(s->maps.membrane_lb4_services);
  dp->lb_backends_ = borrow(s->maps.membrane_lb4_backends);
  dp->lb_rev_nat_ = borrow(s->maps.membrane_lb4_reverse_nat);
  dp->lb_affinity_ = borrow(s->maps.membrane_lb4_affinity);
  dp->lb_maglev_ = std::make_unique<KernelLbMaglevStore>(bpf_map__fd(s->maps.membrane_lb4_maglev),
                                                         config.maglev_table_size);
  return dp;
}

LbMaps Datapath::lbMaps() {
  return {.services = lb_services_.get(),
          .backends = lb_backends_.get(),
          .rev_nat = lb_rev_nat_.get(),
          .maglev = lb_maglev_.get(),
          .maglev_table_size = config_.maglev_table_size};
}

int Datapath::programFd(Program p) const {
  switch (p) {
    case Program::FromContainer:
      return bpf_program__fd(skel_->progs.membrane_from_container);
    case Program::ToContainer:
      return bpf_program__fd(skel_->progs.membrane_to_container);
    case Program::FromOverlay:
      return bpf_program__fd(skel_->progs.membrane_from_overlay);
  }
  return -1;
}

int Datapath::metricsFd() const { return bpf_map__fd(skel_->maps.membrane_metrics); }
int Datapath::eventsFd() const { return bpf_map__fd(skel_->maps.membrane_events); }

Result<uint32_t> Datapath::revision() const {
  const uint32_t key = MEMBRANE_REVISION_KEY;
  uint32_t rev = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.membrane_revision), &key, &rev) != 0) {
    return errnoError(errno, "read datapath revision");
  }
  return rev;
}

uint64_t Datapath::eventsLost() const {
  return __atomic_load_n(&skel_->bss->membrane_events_lost, __ATOMIC_RELAXED);
}

Status Datapath::unpin() {
  if (config_.bpffs_root.empty()) return {};
  for (bpf_map* map : pinnedMaps(skel_)) {
    if (int rc = bpf_map__unpin(map, nullptr); rc != 0 && rc != -ENOENT) {
      return errnoError(-rc, std::string("unpin ") + bpf_map__name(map));
    }
  }
  return {};
}

// --- baseline -------------------------------------------------------------------------------

Result<std::unique_ptr<BaselineProgram>> BaselineProgram::load() {
  std::unique_ptr<BaselineProgram> b(new BaselineProgram());
  b->skel_ = baseline__open_and_load();
  if (b->skel_ == nullptr) return errnoError(errno, "load baseline");
  return b;
}

BaselineProgram::~BaselineProgram() {
  if (skel_ != nullptr) baseline__destroy(skel_);
}

int BaselineProgram::fd() const { return bpf_program__fd(skel_->progs.membrane_baseline); }

}  // namespace membrane::dataplane
