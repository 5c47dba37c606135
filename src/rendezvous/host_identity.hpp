// HostIdentity: which machine (and which boot of it) a rank runs on.
//
// Two ranks with equal identities share a kernel, so they can reach each
// other through shared memory; the rendezvous uses identities to derive each
// rank's local rank and local world size, and hands them to the transports.
// The identity is the hostname plus the kernel's boot id
// (/proc/sys/kernel/random/boot_id), so a machine that was rebooted, or two
// machines that share a hostname, are told apart. BATON_HOST_ID, where set,
// replaces both (for tests and containers that share a kernel but should not
// share memory, or that should).
//
// Thread safety: local_host_identity() is safe from any thread;
// set_host_identity_override_for_testing() must not race with it.
#pragma once

#include <optional>
#include <string>

namespace baton::rendezvous {

struct HostIdentity {
  std::string hostname;
  std::string boot_id;  // empty where the kernel does not provide one

  bool operator==(const HostIdentity&) const = default;
  // "node7 (boot 3f2a...)".
  std::string to_string() const;
};

// This process's identity: the testing override, else BATON_HOST_ID (as the
// hostname, with an empty boot id), else gethostname(2) and
// /proc/sys/kernel/random/boot_id; does not block. Characters that cannot
// travel in a rendezvous record (control characters, tabs, newlines) are
// replaced by '?'.
HostIdentity local_host_identity();

// Makes local_host_identity() return `identity` in this process (nullopt
// restores the real one). For tests that pretend ranks run on several hosts.
void set_host_identity_override_for_testing(std::optional<HostIdentity> identity);

}  // namespace baton::rendezvous
