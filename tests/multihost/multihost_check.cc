// multihost_check: one rank of the two-"host" test (netns_test.sh).
//
// Run under baton-run on each of two hosts (network namespaces, each with its
// own BATON_HOST_ID), LOCAL_WORLD_SIZE ranks per host. Every rank checks:
//   - what the world group says about its transports: "self" for itself,
//     "shm" for the ranks of its own host, "tcp" for the other host's
//     (everything "tcp" when BATON_TRANSPORT=tcp);
//   - all_reduce, broadcast (rooted on the second host), all_gather and a
//     ring of send/recv, at a small and a large size (the large one takes
//     the bulk paths), against closed-form values;
//   - the same inside a group of the ranks of one host (shared memory only)
//     and a group of one rank per host (TCP only).
// The rendezvous is env:// (baton-run's variables) unless MULTIHOST_INIT_METHOD
// names another init method (tcp://host:port, file:///path).
// Prints "multihost_check: rank R ok (...)" and exits 0, or names the first
// wrong element and exits 1. Exceptions (timeouts, refused connections)
// exit 1 with their message.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "baton/baton.hpp"

namespace {

// Small integers: every sum below is exact in float32.
float value_of(int rank, int64_t index) { return static_cast<float>(rank + 1 + index % 7); }

baton::Tensor filled(int64_t count, int rank) {
  baton::Tensor t = baton::Tensor::empty({count}, baton::DType::Float32);
  auto data = t.data<float>();
  for (int64_t i = 0; i < count; ++i) data[static_cast<size_t>(i)] = value_of(rank, i);
  return t;
}

struct Checker {
  int rank;
  bool ok = true;

  template <class Want>
  void expect(const baton::Tensor& t, Want want, const std::string& what) {
    if (!ok) return;
    auto data = t.data<float>();
    for (size_t i = 0; i < data.size(); ++i) {
      const float expected = want(static_cast<int64_t>(i));
      if (data[i] != expected) {
        std::fprintf(stderr, "multihost_check: rank %d: %s: element %zu is %g, expected %g\n",
                     rank, what.c_str(), i, static_cast<double>(data[i]),
                     static_cast<double>(expected));
        ok = false;
        return;
      }
    }
  }
};

// The collectives of one group at one size; group ranks map to world ranks
// through group.world_ranks().
void check_group(const baton::Group& group, int64_t count, const std::string& name, Checker& c) {
  const int me = group.rank();
  const int n = group.size();
  const std::vector<int>& world_of = group.world_ranks();
  const std::string tag = name + " (" + std::to_string(count) + " floats)";

  // all_reduce SUM: sum over members of value_of(world rank).
  baton::Tensor sum = filled(count, world_of[static_cast<size_t>(me)]);
  baton::all_reduce(sum, baton::ReduceOp::SUM, group);
  c.expect(sum, [&](int64_t i) {
    float total = 0;
    for (int r : world_of) total += value_of(r, i);
    return total;
  }, "all_reduce in " + tag);

  // broadcast from the last member (on the second host in the world group).
  const int root = n - 1;
  baton::Tensor bcast = me == root ? filled(count, 100) : baton::Tensor::zeros({count});
  baton::broadcast(bcast, root, group);
  c.expect(bcast, [](int64_t i) { return value_of(100, i); }, "broadcast in " + tag);

  // all_gather: output j holds member j's input.
  std::vector<baton::Tensor> gathered;
  for (int j = 0; j < n; ++j) gathered.push_back(baton::Tensor::zeros({count}));
  baton::all_gather(gathered, filled(count, world_of[static_cast<size_t>(me)]), group);
  for (int j = 0; j < n; ++j) {
    const int from = world_of[static_cast<size_t>(j)];
    c.expect(gathered[static_cast<size_t>(j)], [&](int64_t i) { return value_of(from, i); },
             "all_gather slot " + std::to_string(j) + " in " + tag);
  }

  // A ring of point-to-point messages: send to the next member, receive
  // from the previous one.
  if (n > 1) {
    const int next = (me + 1) % n;
    const int prev = (me + n - 1) % n;
    baton::Tensor out = filled(count, 1000 + world_of[static_cast<size_t>(me)]);
    baton::Tensor in = baton::Tensor::zeros({count});
    baton::Work sent = baton::isend(out, next, group);
    baton::recv(in, prev, group);
    sent.wait();
    const int from = world_of[static_cast<size_t>(prev)];
    c.expect(in, [&](int64_t i) { return value_of(1000 + from, i); }, "send/recv in " + tag);
  }
}

// "self" for me, "shm" for ranks on my host, "tcp" for the others (all
// "tcp" under BATON_TRANSPORT=tcp); a host holds `per_host` consecutive
// world ranks.
std::string expected_transport(int me, int peer, int per_host) {
  if (peer == me) return "self";
  const char* forced = std::getenv("BATON_TRANSPORT");
  if (forced != nullptr && std::string(forced) == "tcp") return "tcp";
  return peer / per_host == me / per_host ? "shm" : "tcp";
}

bool check_transports(const baton::Group& group, int per_host, const std::string& name,
                      std::string* report) {
  const std::vector<std::string> got = group.transports();
  const int me = group.world_ranks()[static_cast<size_t>(group.rank())];
  bool ok = got.size() == static_cast<size_t>(group.size());
  std::string text;
  for (int j = 0; j < group.size(); ++j) {
    const int peer = group.world_ranks()[static_cast<size_t>(j)];
    const std::string want = expected_transport(me, peer, per_host);
    const std::string have = static_cast<size_t>(j) < got.size() ? got[static_cast<size_t>(j)] : "?";
    text += (j ? "," : "") + have;
    if (have != want) {
      std::fprintf(stderr, "multihost_check: rank %d: %s: transport to world rank %d is '%s', expected '%s'\n",
                   me, name.c_str(), peer, have.c_str(), want.c_str());
      ok = false;
    }
  }
  *report += name + " " + text + "; ";
  return ok;
}

}  // namespace

int main() {
  try {
    // MULTIHOST_INIT_METHOD (netns_test.sh sets it): tcp://... or file://...
    // instead of the launcher's env://.
    const char* init_method = std::getenv("MULTIHOST_INIT_METHOD");
    baton::init_process_group({.init_method = init_method != nullptr ? init_method : "env://"});
    const baton::Group world = baton::world();
    const char* local = std::getenv("LOCAL_WORLD_SIZE");
    const int per_host = local != nullptr ? std::atoi(local) : 0;
    if (per_host < 1 || world.size() % per_host != 0 || world.size() / per_host < 2) {
      std::fprintf(stderr, "multihost_check: needs at least two hosts of LOCAL_WORLD_SIZE ranks; "
                           "got WORLD_SIZE %d, LOCAL_WORLD_SIZE %s\n",
                   world.size(), local != nullptr ? local : "(unset)");
      return 1;
    }
    Checker checker{world.rank()};
    std::string report;
    bool transports_ok = check_transports(world, per_host, "world", &report);

    // Groups are made by every rank, members or not, in the same order.
    const int host = world.rank() / per_host;
    std::vector<baton::Group> host_groups;
    for (int h = 0; h < world.size() / per_host; ++h) {
      std::vector<int> ranks;
      for (int r = 0; r < per_host; ++r) ranks.push_back(h * per_host + r);
      host_groups.push_back(baton::new_group(ranks));
    }
    std::vector<int> leaders;
    for (int r = 0; r < world.size(); r += per_host) leaders.push_back(r);
    const baton::Group across = baton::new_group(leaders);
    const baton::Group& mine = host_groups[static_cast<size_t>(host)];
    transports_ok = check_transports(mine, per_host, "host", &report) && transports_ok;
    if (across.is_member()) {
      transports_ok = check_transports(across, per_host, "leaders", &report) && transports_ok;
    }

    for (int64_t count : {int64_t{3}, int64_t{1} << 20}) {
      check_group(world, count, "world", checker);
      check_group(mine, count, "host group", checker);
      if (across.is_member()) check_group(across, count, "leaders group", checker);
    }
    baton::barrier(world);
    baton::destroy_process_group();
    if (!checker.ok || !transports_ok) return 1;
    std::printf("multihost_check: rank %d ok (transports: %s)\n", world.rank(), report.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "multihost_check: %s\n", e.what());
    return 1;
  }
}
