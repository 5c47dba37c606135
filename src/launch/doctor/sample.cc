// The doctor's loopback sample: how fast this host moves small and large
// messages between two processes, over TCP on 127.0.0.1 and through shared
// memory, each for about sample_time.
//
// TCP: a forked child connects to a listener on 127.0.0.1 (TCP_NODELAY, as
// the transport sets); 8-byte ping-pongs give the one-way latency (half a
// round trip), then 1 MiB messages, each answered by a 1-byte ack, give the
// bandwidth. Shared memory: a forked child and this process share an
// anonymous mapping with a spinning flag each way (the polls yield the core
// now and then, as the transport's do): flag round trips give the latency,
// then 1 MiB memcpy'd in by one side and out by the other, per flag
// handoff, gives the copy bandwidth (what a message through a ring costs).
// Neither process is pinned, as ranks are not: the scheduler may put both
// on one core (a fast, cache-warm copy) or on two (the caches trade lines),
// so on a busy host two runs can differ several times over; a slow sample
// names the load average.
//
// A sample that cannot run (no loopback, no fork, a partner that does not
// answer within 2 s) fails its row: jobs on one host need both paths. A
// slow one warns: a loaded or throttled host makes every collective slower.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "baton/error.hpp"
#include "core/socket.hpp"
#include "launch/doctor/checks.hpp"
#include "launch/doctor/forked_child.hpp"

namespace baton::launch::doctor {
namespace {

constexpr size_t kLargeBytes = 1 << 20;
constexpr size_t kSmallBytes = 8;
constexpr auto kAnswerTimeout = std::chrono::seconds(2);
// Slower than these warns (one-way latency, bandwidth).
constexpr auto kTcpLatencyWarn = std::chrono::microseconds(100);
constexpr double kTcpBandwidthWarn = 500e6;
constexpr auto kShmLatencyWarn = std::chrono::microseconds(50);
constexpr double kShmBandwidthWarn = 1e9;

struct Measured {
  std::chrono::nanoseconds latency{0};
  double bandwidth = 0;  // bytes per second
  std::string error;     // not empty: the sample failed
};

Measured broken(std::string why) {
  Measured m;
  m.error = std::move(why);
  return m;
}

void set_timeouts(int fd) {
  timeval tv{.tv_sec = static_cast<time_t>(kAnswerTimeout.count()), .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Blocking whole-buffer transfers on a socket with timeouts; false on
// error, timeout or close.
bool send_exact(int fd, const void* data, size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}
bool recv_exact(int fd, void* data, size_t n) {
  auto* p = static_cast<char*>(data);
  while (n > 0) {
    const ssize_t k = ::recv(fd, p, n, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

// The child's side: echo 8-byte pings until a zero one, then ack 1 MiB
// messages until the parent closes.
int tcp_partner(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return 2;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) return 3;
  set_timeouts(fd.get());
  for (;;) {
    uint64_t ping = 0;
    if (!recv_exact(fd.get(), &ping, sizeof ping)) return 4;
    if (!send_exact(fd.get(), &ping, sizeof ping)) return 4;
    if (ping == 0) break;
  }
  std::vector<char> buffer(kLargeBytes);
  while (recv_exact(fd.get(), buffer.data(), buffer.size())) {
    const char ack = 1;
    if (!send_exact(fd.get(), &ack, 1)) return 5;
  }
  return 0;
}

Measured sample_tcp(std::chrono::nanoseconds budget) {
  Measured m;
  UniqueFd listener;
  try {
    listener = net::listen_tcp("127.0.0.1", 0, 4);
  } catch (const Error& e) {
    m.error = e.what();
    return m;
  }
  const uint16_t port = net::local_address(listener.get()).port();
  ForkedChild child([port] { return tcp_partner(port); });
  if (!child.started()) {
    m.error = "cannot fork: " + net::error_text(child.error());
    return m;
  }
  // Until the partner connects, gives up (it exits), or the timeout.
  const auto deadline = Clock::now() + kAnswerTimeout;
  for (;;) {
    pollfd p{.fd = listener.get(), .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, 20) == 1) break;
    if (!child.running() || Clock::now() >= deadline) {
      const int why = child.wait_until(Clock::now()).value_or(0);
      return broken("a forked process cannot connect to 127.0.0.1:" + std::to_string(port) +
                    (why == 3 ? " (connect failed: is loopback down?)" : " (it gave up)"));
    }
  }
  UniqueFd fd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd) {
    m.error = "accept: " + net::error_text(errno);
    return m;
  }
  set_timeouts(fd.get());
  const std::string broke = "the loopback connection broke or stalled";
  // Latency: 8-byte round trips.
  auto round_trip = [&](uint64_t value) {
    uint64_t back = 0;
    return send_exact(fd.get(), &value, sizeof value) && recv_exact(fd.get(), &back, sizeof back) &&
           back == value;
  };
  for (uint64_t i = 1; i <= 50; ++i) {
    if (!round_trip(i)) return broken(broke);
  }
  uint64_t trips = 0;
  auto start = Clock::now();
  const auto latency_budget = budget * 2 / 5;
  while (Clock::now() - start < latency_budget) {
    if (!round_trip(++trips + 100)) return broken(broke);
  }
  m.latency = (Clock::now() - start) / (2 * std::max<uint64_t>(trips, 1));
  if (!round_trip(0)) return broken(broke);
  // Bandwidth: 1 MiB messages, each acked.
  std::vector<char> message(kLargeBytes, 'b');
  auto send_large = [&] {
    char ack = 0;
    return send_exact(fd.get(), message.data(), message.size()) && recv_exact(fd.get(), &ack, 1);
  };
  if (!send_large()) return broken(broke);
  uint64_t sent = 0;
  start = Clock::now();
  while (Clock::now() - start < budget - latency_budget) {
    if (!send_large()) return broken(broke);
    ++sent;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  m.bandwidth = static_cast<double>(sent * kLargeBytes) / seconds;
  fd.reset();  // the partner sees the close and exits
  child.wait_until(Clock::now() + kAnswerTimeout);
  return m;
}

// The shared page: a flag each way, each on its own cache line, then the data.
struct ShmShared {
  alignas(64) std::atomic<uint64_t> ping;
  alignas(64) std::atomic<uint64_t> pong;
  alignas(64) std::atomic<uint64_t> copy;  // 1: each ping carries kLargeBytes of data
  alignas(64) char data[kLargeBytes];
};

int shm_partner(ShmShared* shared) {
  std::vector<char> out(kLargeBytes);
  for (uint64_t k = 1;; ++k) {
    if (!wait_for_value(shared->ping, k, Clock::now() + kAnswerTimeout)) return 2;
    if (shared->copy.load(std::memory_order_relaxed) == 2) return 0;
    if (shared->copy.load(std::memory_order_relaxed) == 1) {
      std::memcpy(out.data(), shared->data, kLargeBytes);
    }
    shared->pong.store(k, std::memory_order_release);
  }
}

Measured sample_shm(std::chrono::nanoseconds budget) {
  Measured m;
  void* page =
      ::mmap(nullptr, sizeof(ShmShared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) {
    m.error = "cannot map a shared page: " + net::error_text(errno);
    return m;
  }
  struct Unmap {
    void* p;
    ~Unmap() { ::munmap(p, sizeof(ShmShared)); }
  } unmap{page};
  auto* shared = new (page) ShmShared{};
  ForkedChild child([shared] { return shm_partner(shared); });
  if (!child.started()) {
    m.error = "cannot fork: " + net::error_text(child.error());
    return m;
  }
  uint64_t k = 0;
  auto trip = [&] {
    shared->ping.store(++k, std::memory_order_release);
    return wait_for_value(shared->pong, k, Clock::now() + kAnswerTimeout);
  };
  const std::string silent = "the forked partner did not answer through the shared page";
  for (int i = 0; i < 100; ++i) {
    if (!trip()) return broken(silent);
  }
  uint64_t trips = 0;
  auto start = Clock::now();
  const auto latency_budget = budget * 2 / 5;
  while (Clock::now() - start < latency_budget) {
    if (!trip()) return broken(silent);
    ++trips;
  }
  m.latency = (Clock::now() - start) / (2 * std::max<uint64_t>(trips, 1));
  shared->copy.store(1, std::memory_order_relaxed);
  std::vector<char> in(kLargeBytes, 'c');
  auto copy_in = [&] {
    std::memcpy(shared->data, in.data(), kLargeBytes);
    return trip();
  };
  if (!copy_in()) return broken(silent);
  uint64_t copies = 0;
  start = Clock::now();
  while (Clock::now() - start < budget - latency_budget) {
    if (!copy_in()) return broken(silent);
    ++copies;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  m.bandwidth = static_cast<double>(copies * kLargeBytes) / seconds;
  shared->copy.store(2, std::memory_order_relaxed);
  shared->ping.store(++k, std::memory_order_release);
  child.wait_until(Clock::now() + kAnswerTimeout);
  return m;
}

// "; load average 8.41 on 2 CPUs", or "" when unknown.
std::string load_text() {
  double load = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::getloadavg(&load, 1) != 1 || ::sched_getaffinity(0, sizeof set, &set) != 0) return "";
  char text[64];
  std::snprintf(text, sizeof text, "; load average %.2f on %d CPUs", load, CPU_COUNT(&set));
  return text;
}

DoctorRow sample_row(const std::string& name, const Measured& m,
                     std::chrono::nanoseconds latency_warn, double bandwidth_warn,
                     const std::string& what_latency, const std::string& what_bandwidth,
                     const std::string& fix) {
  if (!m.error.empty()) return fail(name, m.error, fix);
  const std::string detail = what_latency + " " + format_latency(m.latency) + ", " +
                             what_bandwidth + " " + format_rate(m.bandwidth);
  if (m.latency > latency_warn || m.bandwidth < bandwidth_warn) {
    return warn(name,
                detail + ": slow (warns above " + format_latency(latency_warn) + " or below " +
                    format_rate(bandwidth_warn) + ")" + load_text(),
                "a loaded or throttled host: check what else runs here (top), CPU frequency "
                "and the VM's CPU allowance");
  }
  return ok(name, detail);
}

}  // namespace

Rows sample_checks(const DoctorOptions& options) {
  Rows rows;
  if (options.sample_time.count() <= 0) {
    rows.push_back(skipped("tcp loopback", "no sample asked for (sample time 0)"));
    rows.push_back(skipped("shm copy", "no sample asked for (sample time 0)"));
    return rows;
  }
  const std::chrono::nanoseconds budget = options.sample_time;
  rows.push_back(sample_row("tcp loopback", sample_tcp(budget), kTcpLatencyWarn, kTcpBandwidthWarn,
                            "8 B one-way", "1 MiB messages",
                            "bring loopback up (`ip link set lo up`); ranks of one host and "
                            "--standalone's store need 127.0.0.1"));
  rows.push_back(sample_row("shm copy", sample_shm(budget), kShmLatencyWarn, kShmBandwidthWarn,
                            "flag one-way", "1 MiB copied through",
                            "check the memory limits and what else runs here; or set "
                            "BATON_TRANSPORT=tcp"));
  return rows;
}

}  // namespace baton::launch::doctor
