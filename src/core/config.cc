// The table of BATON_* tunables and the typed readers over it.
#include "core/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "baton/error.hpp"

namespace baton::config {
namespace {

// Every tunable, once. Keep docs/configuration.md in step (a test checks it).
constexpr Tunable kTunables[] = {
    {"BATON_LOG", "warn", "Log level (error, warn, info, debug, trace), optionally ':subsys,...' (store, rendezvous, transport, coll, launch, train)"},
    {"BATON_TIMEOUT", "300s", "Default timeout of every blocking operation (store waits, rendezvous, collectives)"},
    {"BATON_BACKEND", "auto", "Backend init_process_group uses when InitOptions::backend is \"auto\": auto (native), native or mpi; lets unchanged programs run on MPI under mpirun"},
    {"BATON_MPI_CALLER_THREAD", "1", "mpi backend: 1 runs a blocking collective of at most 64 KiB on the calling thread when MPI provides MPI_THREAD_MULTIPLE and nothing else of its group is in flight; 0 sends every operation through the MPI engine thread"},
    {"BATON_JOB_ID", "", "Identifies one job; set by baton-run and spawn, checked by FileStore and connection handshakes"},
    {"BATON_SECRET", "", "The job secret (at least 16 bytes) every store and transport connection proves by HMAC-SHA-256 challenge-response before it may read, write or hold a slot; set by baton-run; unset: BATON_SECRET_FILE (docs/security.md)"},
    {"BATON_SECRET_FILE", "", "A file holding the job secret (mode 0600, owned by the user): for jobs across hosts, where baton-run --secret-file reads it; unreadable, empty or group/other-readable is an error, never a fallback to no secret"},
    {"BATON_FLIGHT_RECORDER_ENTRIES", "512", "Operations each group of the native backend remembers per rank in its flight recorder (always on, in memory; written out on a timeout, an abort or a fatal signal); 0 turns it off"},
    {"BATON_FLIGHT_DIR", "", "Directory where each rank writes its flight records (one file per process) when a group fails or a fatal signal arrives; set by baton-run, which reads them into its report; unset: nothing is written"},
    {"BATON_HOST_ID", "", "Overrides the host identity (hostname + boot id) by which ranks find peers on their host: equal values share memory; for tests (network namespaces) and containers"},
    {"BATON_SOCKET_IFNAME", "", "Network interfaces TCP (store, rendezvous address, transport) binds and publishes: prefixes 'eth,ib', exact '=eth0', exclusions '^docker,lo' (as NCCL_SOCKET_IFNAME); unset: the route to the store (env://, tcp://) or the first non-loopback interface (file://)"},
    {"BATON_AGENT_STORE", "0", "1: a launcher already serves the TcpStore at the address env:// reads (BATON_STORE_ADDR:BATON_STORE_PORT, else MASTER_ADDR:MASTER_PORT), so rank 0 connects to it as a client instead of serving it"},
    {"BATON_STORE_ADDR", "", "Host of the job's TcpStore for env:// when it is not MASTER_ADDR; set by baton-run (unset or empty: MASTER_ADDR)"},
    {"BATON_STORE_PORT", "", "Port of the job's TcpStore for env:// when it is not MASTER_PORT; baton-run --standalone sets it to its own store's, leaving MASTER_PORT to a torch.distributed rank 0 (unset or empty: MASTER_PORT)"},
    {"BATON_STORE_MAX_VALUE_BYTES", "67108864", "Largest value (bytes) a TcpStore server accepts and a client reads; a longer frame closes the connection"},
    {"BATON_STORE_MAX_BUFFERED_BYTES", "1073741824", "Bytes a TcpStore server may hold in request bodies, parked waits and replies its clients have not read (beyond its keys); over it, it closes the connections whose replies are stalled longest, then answers 'busy' to a request that still does not fit (clients retry until their timeout); at least BATON_STORE_MAX_VALUE_BYTES + 64 KiB"},
    {"BATON_UNEXPECTED_BYTES", "268435456", "Bytes of early messages (arrived before their receive was posted) a transport buffers per group; beyond it, it stops reading from the sending peer until receives are posted"},
    {"BATON_TRANSPORT", "auto", "Native backend transport: auto (shared memory between ranks of one host, tcp between hosts, both in a mixed group), shm or tcp"},
    {"BATON_SHM_RING_BYTES", "1048576", "Bytes of each per-pair ring of the shared-memory transport (the segment holds size*(size-1) of them)"},
    {"BATON_SHM_SINGLE_COPY", "0", "1: the shared-memory transport sends messages between BATON_SHM_SINGLE_COPY_BYTES and BATON_SHM_SINGLE_COPY_MAX_BYTES by single copy (process_vm_readv, where the kernel permits it); 0 (default: the pipelined ring measured faster at every size, docs/performance.md): always through the rings"},
    {"BATON_SHM_SINGLE_COPY_BYTES", "1048576", "Smallest message (bytes) the shared-memory transport sends by single copy; above the collectives' 512 KiB segments, so they pipeline through the rings"},
    {"BATON_SHM_SINGLE_COPY_MAX_BYTES", "4194304", "Largest message (bytes) the shared-memory transport sends by single copy; larger ones are pipelined through the ring (process_vm_readv of 16 MiB and more runs at a third of its speed at 1-4 MiB); 0: no limit"},
    {"BATON_SHM_AREA_BYTES", "65536", "Bytes of each of the 16 buffers per rank of the shared area, where the shared_memory collectives copy and reduce (chunks of this size); 0 turns the area and those collectives off"},
    {"BATON_SPIN_US", "2000", "Microseconds a waiting thread (a request, a Work, the shared-memory progress thread with requests in flight) polls, yielding its core, before it sleeps; waking a sleeper is slow on small VMs"},
    {"BATON_TCP_CALLER_POLL", "1", "1: a thread waiting on a tcp request reads and writes that peer's socket itself while it spins (the progress thread steps aside), so a small message never waits for the progress thread to wake; 0: only the progress thread touches sockets"},
    {"BATON_MISMATCH_CHECK", "100ms", "A collective that has waited this long asks the group's other ranks which operation they run, so ranks that disagree (op, dtype, count, reduce op, root, algorithm) fail with MismatchError within about this time instead of at the timeout; 0 turns the probes off"},
    {"BATON_ALGO_ALL_REDUCE", "auto", "all_reduce algorithm: auto (by size and transport), ring, recursive_doubling, shared_memory or hierarchical; for benchmarking, same value on every rank"},
    {"BATON_ALGO_BROADCAST", "auto", "broadcast algorithm: auto, binomial_tree or shared_memory (ranks of one host)"},
    {"BATON_ALGO_REDUCE", "auto", "reduce algorithm: auto, binomial_tree or shared_memory (ranks of one host)"},
    {"BATON_ALGO_ALL_GATHER", "auto", "all_gather algorithm: auto, ring or shared_memory (ranks of one host)"},
    {"BATON_ALGO_GATHER", "auto", "gather algorithm: auto or direct"},
    {"BATON_ALGO_SCATTER", "auto", "scatter algorithm: auto or direct"},
    {"BATON_ALGO_REDUCE_SCATTER", "auto", "reduce_scatter algorithm: auto, ring or shared_memory (ranks of one host)"},
    {"BATON_ALGO_ALL_TO_ALL", "auto", "all_to_all algorithm: auto or pairwise"},
    {"BATON_ALGO_BARRIER", "auto", "barrier algorithm: auto, dissemination or shared_memory (ranks of one host)"},
    {"BATON_ALL_REDUCE_SMALL_BYTES", "65536", "Under auto, an all_reduce of fewer bytes than this (or fewer elements than ranks) uses recursive doubling, a larger one the ring"},
    {"BATON_COLL_SEGMENT_BYTES", "524288", "Largest message (bytes) of the pipelined collectives (rings, trees): blocks are cut into segments of this size"},
    {"BATON_COLL_PIPELINE_DEPTH", "4", "Segments a ring collective keeps receiving ahead of the one it is reducing"},
    {"BATON_BUCKET_BYTES", "26214400", "Default largest gradient bucket (bytes) of GradientBucketer and DDP (25 MiB); same value on every rank"},
};

const Tunable& find(std::string_view name) {
  for (const Tunable& t : kTunables) {
    if (t.name == name) return t;
  }
  throw InvalidArgument("config: '" + std::string(name) + "' is not a registered BATON_* tunable");
}

std::string trim_lower(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::span<const Tunable> tunables() { return kTunables; }

std::optional<std::string> env(std::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::string get_string(std::string_view name) {
  const Tunable& t = find(name);
  return env(name).value_or(std::string(t.default_value));
}

int64_t get_int(std::string_view name) {
  const std::string text = trim_lower(get_string(name));
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw InvalidArgument(std::string(name) + "='" + text + "' is not an integer");
  }
  return value;
}

bool get_bool(std::string_view name) {
  const std::string text = trim_lower(get_string(name));
  if (text == "1" || text == "true" || text == "yes" || text == "on") return true;
  if (text == "0" || text == "false" || text == "no" || text == "off") return false;
  throw InvalidArgument(std::string(name) + "='" + text +
                        "' is not a boolean (expected 1/0, true/false, yes/no, on/off)");
}

std::chrono::milliseconds get_duration(std::string_view name) {
  return parse_duration(get_string(name), name);
}

namespace {
constexpr double kMaxDurationMs = 100.0 * 365 * 24 * 3600 * 1000;
}  // namespace

std::chrono::milliseconds parse_duration(std::string_view text_in, std::string_view what) {
  const std::string text = trim_lower(text_in);
  double number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  const std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  double scale = -1;
  if (unit.empty() || unit == "s") scale = 1000;
  if (unit == "ms") scale = 1;
  if (unit == "m" || unit == "min") scale = 60'000;
  if (unit == "h") scale = 3'600'000;
  if (ec != std::errc() || text.empty() || scale < 0 || number < 0) {
    throw InvalidArgument(std::string(what) + "='" + std::string(text_in) +
                          "' is not a duration (expected e.g. 30s, 500ms, 2m, 1h or seconds)");
  }
  // inf, nan or more than a century would not fit the milliseconds (and
  // converting them is undefined): refused, not wrapped (found by fuzz.config).
  const double ms = number * scale;
  if (!std::isfinite(ms) || ms > kMaxDurationMs) {
    throw InvalidArgument(std::string(what) + "='" + std::string(text_in) +
                          "' is too long a duration (at most 100 years)");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

}  // namespace baton::config
