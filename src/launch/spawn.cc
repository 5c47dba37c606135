// baton::spawn: the one-machine template, on the launcher's supervisor.
#include <cstdio>
#include <exception>
#include <utility>

#include "baton/launch.hpp"
#include "core/config.hpp"
#include "core/random.hpp"
#include "launch/job_env.hpp"
#include "launch/job_secret.hpp"
#include "launch/supervisor.hpp"

namespace baton {
namespace {

int port_from_environment() {
  const auto text = config::env("MASTER_PORT");
  if (!text) return 0;
  try {
    size_t used = 0;
    const int port = std::stoi(*text, &used);
    if (used == text->size() && port >= 1 && port <= 65535) return port;
  } catch (const std::exception&) {
  }
  throw InvalidArgument("baton::spawn: MASTER_PORT must be a port number in [1, 65535], got '" +
                        *text + "'");
}

}  // namespace

void spawn(int nprocs, std::function<void(int rank, int world_size)> fn,
           const SpawnOptions& options) {
  if (nprocs < 1) {
    throw InvalidArgument("baton::spawn: nprocs must be at least 1, got " + std::to_string(nprocs));
  }
  if (!fn) throw InvalidArgument("baton::spawn: the function to run is empty");
  if (options.master_port < 0 || options.master_port > 65535) {
    throw InvalidArgument("baton::spawn: master_port must be in [0, 65535], got " +
                          std::to_string(options.master_port));
  }

  launch::JobLayout layout;
  layout.nproc_per_node = nprocs;
  layout.master_addr = options.master_addr;
  layout.master_port = options.master_port;
  if (layout.master_port == 0) layout.master_port = port_from_environment();
  if (layout.master_port == 0) layout.master_port = launch::find_free_port(layout.master_addr);
  layout.job_id = random_hex();
  // One host: every rank is our child, so a fresh secret reaches them all.
  const launch::JobSecret secret = launch::choose_job_secret("", /*generate=*/true);
  layout.secret = secret.text;
  layout.secret_file = secret.file;
  launch::validate(layout);

  std::vector<launch::ChildSpec> specs;
  for (int rank = 0; rank < nprocs; ++rank) {
    launch::ChildSpec spec;
    spec.rank = rank;
    spec.local_rank = rank;
    spec.env = launch::rank_environment(layout, rank);
    spec.body = [&fn, rank, nprocs]() -> int {
      try {
        fn(rank, nprocs);
        return 0;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "baton::spawn: rank %d of %d failed: %s\n", rank, nprocs, e.what());
      } catch (...) {
        std::fprintf(stderr, "baton::spawn: rank %d of %d failed: an exception of unknown type\n",
                     rank, nprocs);
      }
      return 1;
    };
    specs.push_back(std::move(spec));
  }

  launch::SupervisorOptions supervisor;
  supervisor.name = "baton::spawn";
  supervisor.prefix_output = options.prefix_output;
  supervisor.own_process_group = false;
  supervisor.handle_signals = false;
  supervisor.grace_period = options.grace_period;
  supervisor.timeout = options.timeout;
  const launch::JobResult result = launch::run_job(specs, supervisor);

  switch (result.end) {
    case launch::JobEnd::kSucceeded: return;
    case launch::JobEnd::kTimedOut:
      throw TimeoutError("baton::spawn: " + std::to_string(nprocs) + " ranks " + result.reason +
                         "; they were stopped");
    case launch::JobEnd::kRankFailed: {
      const launch::RankOutcome& failed = *result.failed;
      throw SpawnError("baton::spawn: " + result.reason + "; the other ranks were stopped",
                       failed.rank, failed.status.signaled ? -1 : failed.status.code,
                       failed.status.signaled ? failed.status.signal : 0);
    }
    case launch::JobEnd::kInterrupted: break;  // spawn does not catch signals
  }
  throw Error(ErrorCode::kInternal, "baton::spawn: the job ended unexpectedly: " + result.reason);
}

}  // namespace baton
