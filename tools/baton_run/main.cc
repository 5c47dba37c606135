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
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "baton/error.hpp"
#include "baton/tcp_store.hpp"
#include "launch/doctor.hpp"
#include "launch/flight_report.hpp"
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

// Where the ranks write their flight records: BATON_FLIGHT_DIR when the user
// set it (kept), else a fresh directory of ours (removed unless a failure
// left records in it).
class FlightDir {
 public:
  FlightDir() {
    if (const char* given = std::getenv("BATON_FLIGHT_DIR"); given != nullptr && *given != '\0') {
      path_ = given;
      ::mkdir(path_.c_str(), 0700);
      return;
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/baton-flight-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) {
      path_ = pattern;
      ours_ = true;
    }
  }
  ~FlightDir() {
    if (ours_ && !keep_) {
      std::error_code ignored;
      std::filesystem::remove_all(path_, ignored);
    }
  }
  FlightDir(const FlightDir&) = delete;
  FlightDir& operator=(const FlightDir&) = delete;
  const std::string& path() const { return path_; }

  // Clears records of an earlier attempt.
  void clear() {
    std::error_code ignored;
    for (const auto& e : std::filesystem::directory_iterator(path_, ignored)) {
      if (e.path().extension() == ".flight") std::filesystem::remove(e.path(), ignored);
    }
  }

  // After a failed attempt: the report, when any rank wrote a record.
  void report(int world_size) {
    if (path_.empty()) return;
    std::string problems;
    std::vector<baton::launch::FlightDump> dumps;
    try {
      dumps = baton::launch::read_flight_dumps(path_, &problems);
    } catch (const baton::Error& e) {
      say(e.what());
      return;
    }
    if (dumps.empty()) return;
    keep_ = true;
    std::string text = baton::launch::flight_report(dumps, world_size) + problems;
    say("what each rank was doing (flight records kept in " + path_ + "):");
    std::fputs(text.c_str(), stderr);
  }

 private:
  std::string path_;
  bool ours_ = false;
  bool keep_ = false;
};

// --doctor: the pre-flight checks (launch/doctor.hpp) of this node as the
// job would use it; the table goes to stdout. 0 when the job would run.
int preflight(const baton::tools::RunConfig& config) {
  const baton::launch::JobLayout& layout = config.layout;
  try {
    return baton::launch::run_doctor(baton::launch::DoctorOptions{
        .nproc_per_node = layout.nproc_per_node,
        .nnodes = layout.nnodes,
        .node_rank = layout.node_rank,
        .master_addr = layout.master_addr,
        .master_port = layout.master_port,  // 0 with --standalone: a free port
        .hosts_master = layout.node_rank == 0,
        .secret = config.secret.resolve_text(),
        .secret_source = config.secret.source});
  } catch (const baton::Error& e) {  // the secret's file went away since it was checked
    say(e.what());
    return 1;
  }
}

// Runs the job, restarting it after failures as --max-restarts allows;
// returns baton-run's exit code.
int run_attempts(const baton::tools::RunConfig& config) {
  using namespace baton;
  launch::JobLayout layout = config.layout;
  layout.max_restarts = config.max_restarts;
  if (config.secret.empty() && layout.nnodes > 1) {
    say("warning: no job secret (--secret-file, BATON_SECRET_FILE or BATON_SECRET): anyone who "
        "can reach " +
        layout.master_addr + ":" + std::to_string(layout.master_port) +
        " or a rank's port can read this job's store and join its groups (docs/security.md)");
  }
  // The secret of the store served here (--standalone): the ranks' own.
  const std::string store_secret = config.secret.resolve_text();
  FlightDir flight;
  layout.flight_dir = flight.path();
  // One node's ranks are the whole job; otherwise only ours write here.
  const int report_world = layout.nnodes == 1 ? layout.world_size() : -1;
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
          TcpStoreServerOptions{.host = layout.master_addr, .port = 0, .secret = store_secret});
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
    flight.clear();
    const launch::JobResult result = launch::run_job(specs, options);
    if (result.end != launch::JobEnd::kSucceeded) flight.report(report_world);
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
  if (!config->flight_report_dir.empty()) {
    try {
      std::string problems;
      const auto dumps = launch::read_flight_dumps(config->flight_report_dir, &problems);
      std::fputs((launch::flight_report(dumps, -1) + problems).c_str(), stdout);
      return dumps.empty() ? 1 : 0;
    } catch (const Error& e) {
      std::fprintf(stderr, "baton-run: %s\n", e.what());
      return 1;
    }
  }
  if (config->doctor) {
    // Before any signal is blocked or thread started: the checks fork.
    const int verdict = preflight(*config);
    if (config->command.empty()) return verdict;
    if (verdict != 0) {
      say("a pre-flight check failed (the table above says which and how to fix it); not "
          "starting the job");
      return verdict;
    }
  }

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
