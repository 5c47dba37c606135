// baton-run: starts the ranks of a Baton job on this node, as torchrun does.
//
// The work is done by the launch layer's supervisor (src/launch/supervisor.hpp),
// the same code that runs baton::spawn; this file turns the command line into
// one ChildSpec per rank and the job's result into an exit code. With
// --standalone, baton-run also serves the job's Baton TcpStore (like
// torchrun's agent store) on a port the kernel picks, and tells the ranks so
// with BATON_STORE_ADDR, BATON_STORE_PORT and BATON_AGENT_STORE=1: a Baton
// rank 0 then connects to it instead of serving it, so that port is never
// guessed. MASTER_PORT is another port, free when baton-run looks and held by
// nobody in baton-run, because a torch.distributed rank 0 binds it for a
// TCPStore of its own (torch's protocol, not Baton's).
//
// Restarts (--max-restarts N, torchrun's meaning): when an attempt ends with a
// failed rank, every rank has been stopped and reaped; baton-run logs the
// culprit and starts them all again, with the restart count in their
// environment, up to N times. Each attempt is a new rendezvous on a store that
// has never seen the earlier one: with --standalone a fresh TcpStoreServer on
// a fresh port (and a fresh MASTER_PORT), without it the store that the new
// rank 0 serves.
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>

#include "baton/error.hpp"
#include "baton/tcp_store.hpp"
#include "launch/supervisor.hpp"
#include "tools/baton_run/cli.hpp"

namespace {

// Blocks the signals the supervisor forwards, before any thread starts, so
// that they reach its signalfd and not the store server's thread.
void block_forwarded_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&set, sig);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void say(const std::string& text) {
  std::fprintf(stderr, "baton-run: %s\n", text.c_str());
}

// Runs the job, restarting it after failures as --max-restarts allows;
// returns baton-run's exit code.
int run_attempts(const baton::tools::RunConfig& config) {
  using namespace baton;
  launch::JobLayout layout = config.layout;
  layout.max_restarts = config.max_restarts;
  launch::SupervisorOptions options;
  options.name = "baton-run";
  options.prefix_output = config.prefix_output;
  options.own_process_group = true;
  options.handle_signals = true;
  options.grace_period = config.grace_period;

  std::unique_ptr<TcpStoreServer> store;
  for (int attempt = 0;; ++attempt) {
    layout.restart_count = attempt;
    if (config.standalone) {
      // The new store starts before the old one closes, so its port differs too.
      auto fresh = std::make_unique<TcpStoreServer>(
          TcpStoreServerOptions{.host = layout.master_addr, .port = 0});
      layout.store_addr = layout.master_addr;
      layout.store_port = fresh->port();
      layout.agent_store = true;
      // Free for a torch.distributed rank 0, which binds MASTER_PORT itself.
      layout.master_port = launch::find_free_port(layout.master_addr);
      store = std::move(fresh);
    }
    launch::validate(layout);

    std::vector<launch::ChildSpec> specs;
    for (int local_rank = 0; local_rank < layout.nproc_per_node; ++local_rank) {
      launch::ChildSpec spec;
      spec.rank = layout.global_rank(local_rank);
      spec.local_rank = local_rank;
      spec.env = launch::rank_environment(layout, local_rank);
      spec.argv = config.command;
      specs.push_back(std::move(spec));
    }
    const launch::JobResult result = launch::run_job(specs, options);
    if (result.end != launch::JobEnd::kRankFailed) return result.exit_code;
    if (attempt == layout.max_restarts) {
      if (attempt > 0) {
        say("giving up after " + std::to_string(attempt) +
            (attempt == 1 ? " restart" : " restarts") + " (--max-restarts " +
            std::to_string(layout.max_restarts) + "); the last failure: " + result.reason);
      }
      return result.exit_code;
    }
    say("restart " + std::to_string(attempt + 1) + " of " + std::to_string(layout.max_restarts) +
        ": starting all " + std::to_string(specs.size()) + " ranks again after " + result.reason);
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace baton;
  // Output goes to pipes and terminals that may close; a closed one must not
  // kill the launcher (and with it every rank). Ranks get SIGPIPE back.
  ::signal(SIGPIPE, SIG_IGN);

  int exit_code = 0;
  std::optional<tools::RunConfig> config = tools::parse_command_line(argc, argv, &exit_code);
  if (!config) return exit_code;

  block_forwarded_signals();
  try {
    return run_attempts(*config);
  } catch (const launch::ExecError& e) {
    std::fprintf(stderr, "baton-run: %s\n", e.what());
    return e.error_number() == ENOENT ? 127 : 126;  // as a shell reports them
  } catch (const Error& e) {
    std::fprintf(stderr, "baton-run: %s\n", e.what());
    return 1;
  }
}
