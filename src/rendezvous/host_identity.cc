// This host's identity: hostname and boot id.
#include "rendezvous/host_identity.hpp"

#include <limits.h>
#include <unistd.h>

#include <fstream>
#include <mutex>

#include "core/config.hpp"

namespace baton::rendezvous {
namespace {

std::mutex override_mutex;
std::optional<HostIdentity> override_identity;  // GUARDED_BY(override_mutex)

std::string sanitize(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return text;
}

std::string read_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string line;
  if (!in || !std::getline(in, line)) return {};
  return line;
}

std::string read_hostname() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown-host";
  return name;
}

}  // namespace

std::string HostIdentity::to_string() const {
  if (boot_id.empty()) return hostname;
  return hostname + " (boot " + boot_id.substr(0, 8) + ")";
}

HostIdentity local_host_identity() {
  {
    std::lock_guard lock(override_mutex);
    if (override_identity) return *override_identity;
  }
  // BATON_HOST_ID replaces both parts: ranks with equal values count as one
  // host (network namespaces or containers that share a kernel but not a host).
  const std::string configured = config::get_string("BATON_HOST_ID");
  if (!configured.empty()) return {sanitize(configured), ""};
  return {sanitize(read_hostname()), sanitize(read_boot_id())};
}

void set_host_identity_override_for_testing(std::optional<HostIdentity> identity) {
  if (identity) {
    identity->hostname = sanitize(identity->hostname);
    identity->boot_id = sanitize(identity->boot_id);
  }
  std::lock_guard lock(override_mutex);
  override_identity = std::move(identity);
}

}  // namespace baton::rendezvous
