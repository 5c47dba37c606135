// baton-run's options, with CLI11 (see cli.hpp).
#include "tools/baton_run/cli.hpp"

#include <dirent.h>
#include <sched.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string_view>

#include "baton/error.hpp"
#include "core/config.hpp"
#include "core/random.hpp"

#ifndef BATON_VERSION
#define BATON_VERSION "unknown"
#endif

namespace baton::tools {
namespace {

constexpr int kUsageExit = 2;

// Thrown for input CLI11 accepts but baton-run does not.
struct UsageError {
  std::string message;
};

// Usage line first, then the description, the options and the footer.
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode mode) const override {
    return "Usage: baton-run [OPTIONS] PROGRAM [ARGS...]\n\n" + make_description(app) +
           make_groups(app, mode) + "\n" + make_footer(app);
  }
};

constexpr const char* kDescription =
    "Starts PROGRAM as several ranks of one Baton job, the way torchrun starts a\n"
    "PyTorch script: `baton-run --nproc-per-node 4 ./train` is\n"
    "`torchrun --no-python --nproc-per-node 4 ./train`. PROGRAM is found on PATH\n"
    "and executed directly (for Python: `baton-run ... python3 train.py`).\n"
    "\n"
    "Each line a rank prints is prefixed with \"[<rank>] \" (stdout to stdout,\n"
    "stderr to stderr). If a rank exits non-zero or is killed, baton-run names it,\n"
    "stops the others (SIGTERM, then SIGKILL after --grace-period) and exits with\n"
    "that rank's exit code (128+N for signal N). When several ranks fail within\n"
    "250 ms, a rank killed by a signal is named as the cause before ranks that\n"
    "exited non-zero (often on the error their dead peer caused); the others are\n"
    "listed after it. With --max-restarts N, a failure stops every rank and starts\n"
    "them all again, up to N times. Ctrl-C (SIGINT) and SIGTERM are forwarded to\n"
    "every rank, then SIGKILL follows after the grace period; a second Ctrl-C\n"
    "kills at once. All ranks exit 0: baton-run exits 0.";

constexpr const char* kFooter =
    "Each rank gets, as torchrun sets them:\n"
    "  RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK (= node rank),\n"
    "  GROUP_WORLD_SIZE (= nnodes), ROLE_RANK, ROLE_WORLD_SIZE, ROLE_NAME, MASTER_ADDR,\n"
    "  MASTER_PORT, TORCHELASTIC_RUN_ID, TORCHELASTIC_USE_AGENT_STORE=False,\n"
    "  TORCHELASTIC_RESTART_COUNT (0, then 1 .. N after each restart) and\n"
    "  TORCHELASTIC_MAX_RESTARTS; and Baton's BATON_JOB_ID (the same for every rank of\n"
    "  the job; from --rdzv-id or $BATON_JOB_ID, else random), BATON_RESTART_COUNT,\n"
    "  BATON_STORE_ADDR, BATON_STORE_PORT (the Baton store env:// meets at) and\n"
    "  BATON_AGENT_STORE (1 with --standalone: baton-run serves that store; else 0).\n"
    "Ports: with --standalone baton-run's store has a port of its own (BATON_STORE_PORT)\n"
    "and MASTER_PORT is another free port, left for a torch.distributed rank 0 to bind;\n"
    "without it both name --master-port, which the program's rank 0 binds.\n"
    "Ranks are numbered statically: node n runs ranks n*N .. n*N+N-1 (N = nproc-per-node).\n"
    "\n"
    "Examples:\n"
    "  baton-run --standalone --nproc-per-node 4 ./train --epochs 10\n"
    "  # two machines with 8 ranks each; on node 0 (and with --node-rank 1 on node 1):\n"
    "  baton-run --nnodes 2 --node-rank 0 --nproc-per-node 8 \\\n"
    "            --master-addr 10.0.0.1 --master-port 29500 ./train\n"
    "\n"
    "Not supported (baton-run is torchrun without elastic agents): --nnodes MIN:MAX,\n"
    "--rdzv-backend/--rdzv-endpoint, --tee/--redirects/--log-dir, -m/--module.\n"
    "See docs/launch.md.\n";

constexpr size_t kNameColumn = 36;
constexpr size_t kLineWidth = 80;

// Wraps an option's description to fit beside the name column.
std::string wrap(std::string_view text) {
  const size_t width = kLineWidth - kNameColumn;
  std::string out;
  size_t line = 0;
  while (!text.empty()) {
    const size_t space = text.find(' ');
    const std::string_view word = text.substr(0, space);
    if (line > 0 && line + 1 + word.size() > width) {
      out += '\n';
      line = 0;
    } else if (line > 0) {
      out += ' ';
      ++line;
    }
    out += word;
    line += word.size();
    text.remove_prefix(space == std::string_view::npos ? text.size() : space + 1);
  }
  return out;
}

// A hint for torchrun options baton-run does not have.
std::string unsupported_hint(std::string_view option) {
  const std::string_view name = option.substr(0, option.find('='));
  auto is = [&](std::string_view dash) {
    std::string underscore(dash);
    for (char& c : underscore) c = c == '-' ? '_' : c;
    underscore[0] = underscore[1] = '-';
    return name == dash || name == underscore;
  };
  if (is("--rdzv-backend") || is("--rdzv-endpoint") || is("--rdzv-conf")) {
    return " (baton-run uses static ranks: give --master-addr and --master-port)";
  }
  if (is("--tee") || is("--redirects") || is("--log-dir") || is("--log_dir")) {
    return " (output is prefixed and relayed; redirect baton-run's own output instead)";
  }
  if (name == "-m" || is("--module")) return " (run `baton-run ... python3 -m module` instead)";
  return "";
}

int parse_count(const std::string& text, const std::string& option) {
  size_t used = 0;
  long value = 0;
  try {
    value = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty()) {
    throw UsageError{option + " must be a whole number, got '" + text + "'"};
  }
  if (value < 1 || value > 1 << 20) {
    throw UsageError{option + " must be at least 1, got " + text};
  }
  return static_cast<int>(value);
}

int cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return 1;
}

// NVIDIA GPUs the driver lists, without needing CUDA.
int gpu_count() {
  DIR* dir = ::opendir("/proc/driver/nvidia/gpus");
  if (dir == nullptr) return 0;
  int n = 0;
  while (const dirent* entry = ::readdir(dir)) n += entry->d_name[0] != '.' ? 1 : 0;
  ::closedir(dir);
  return n;
}

int parse_nproc(const std::string& text) {
  if (text == "cpu") return cpu_count();
  if (text == "gpu") {
    const int gpus = gpu_count();
    if (gpus == 0) {
      throw UsageError{"--nproc-per-node gpu: no NVIDIA GPUs found (/proc/driver/nvidia/gpus)"};
    }
    return gpus;
  }
  if (text == "auto") {
    const int gpus = gpu_count();
    return gpus > 0 ? gpus : cpu_count();
  }
  return parse_count(text, "--nproc-per-node");
}

int parse_nnodes(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos) return parse_count(text, "--nnodes");
  const int lo = parse_count(text.substr(0, colon), "--nnodes");
  const int hi = parse_count(text.substr(colon + 1), "--nnodes");
  if (lo != hi) {
    throw UsageError{"--nnodes " + text +
                     ": elastic node ranges are not supported; give one number of nodes"};
  }
  return lo;
}

}  // namespace

std::optional<RunConfig> parse_command_line(int argc, char** argv, int* exit_code) {
  CLI::App app(kDescription, "baton-run");
  app.formatter(std::make_shared<HelpFormatter>());
  app.get_formatter()->column_width(kNameColumn);
  app.footer(kFooter);
  app.prefix_command();  // the first argument that is not ours starts the program

  std::string nproc = "1";
  std::string nnodes = "1";
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool standalone = false;
  std::string job_id;
  std::string secret_file;
  double grace_seconds = 3.0;
  int max_restarts = 0;
  bool no_prefix = false;
  bool version = false;
  bool no_python = false;

  app.add_option("--nproc-per-node,--nproc_per_node", nproc,
                 wrap("Ranks to start on this node: a number, or cpu (one per CPU), gpu (one per "
                      "NVIDIA GPU), auto (gpu if any, else cpu). Default 1"))
      ->type_name("N|auto|cpu|gpu");
  app.add_option("--nnodes", nnodes, wrap("Number of nodes (machines) in the job. Default 1"))
      ->type_name("N");
  app.add_option(
         "--node-rank,--node_rank", node_rank,
         wrap("This node's index, 0 .. nnodes-1; its ranks are node-rank*N .. +N-1. Default 0"))
      ->type_name("I");
  auto* addr_opt = app.add_option("--master-addr,--master_addr", master_addr,
                                  wrap("Address of node 0, where rank 0 serves the store "
                                       "(MASTER_ADDR). Default 127.0.0.1"))
                       ->type_name("HOST");
  auto* port_opt =
      app.add_option(
             "--master-port,--master_port", master_port,
             wrap("Port rank 0 serves the store on, on the master (MASTER_PORT). Default 29500"))
          ->type_name("PORT");
  app.add_flag(
      "--standalone", standalone,
      wrap("One node on 127.0.0.1: baton-run serves the job's Baton store itself on a free "
           "port (BATON_STORE_PORT), and MASTER_PORT is another free port"));
  app.add_option("--rdzv-id,--rdzv_id,--job-id,--job_id", job_id,
                 wrap("Job id given to every rank as BATON_JOB_ID; use the same on every node. "
                      "Default: $BATON_JOB_ID, else random (one node) or made up by the ranks' "
                      "rendezvous (several nodes)"))
      ->type_name("ID");
  app.add_option(
         "--secret-file,--secret_file", secret_file,
         wrap("File holding the job secret (mode 0600) every store and rank connection "
              "proves; give the same file on every node. Default: $BATON_SECRET or "
              "$BATON_SECRET_FILE, else a random one (one node) or none (docs/security.md)"))
      ->type_name("PATH");
  app.add_option("--grace-period,--grace_period", grace_seconds,
                 wrap("Seconds between SIGTERM and SIGKILL when stopping ranks. Default 3"))
      ->type_name("SECONDS");
  app.add_option("--max-restarts,--max_restarts", max_restarts,
                 wrap("When a rank fails, stop every rank and start them all again, up to N "
                      "times (a new rendezvous; --standalone serves a fresh store). Default 0"))
      ->type_name("N");
  app.add_flag(
      "--no-prefix,--no_prefix", no_prefix,
      wrap("Do not prefix output lines: ranks write straight to baton-run's stdout and stderr"));
  app.add_flag("--no-python,--no_python", no_python,
               wrap("Accepted for torchrun compatibility; baton-run always runs PROGRAM directly"));
  std::string flight_report_dir;
  app.add_option("--flight-report,--flight_report", flight_report_dir,
                 wrap("Print what each rank was doing from the flight records in DIR (written "
                      "where BATON_FLIGHT_DIR pointed, e.g. under mpirun or srun) and exit"))
      ->type_name("DIR");
  bool doctor = false;
  app.add_flag("--doctor", doctor,
               wrap("Check this node for what makes jobs fail or run slowly (interface, master "
                    "port, store, clock, /dev/shm, limits, backends; a 2 s loopback sample) and "
                    "print a table. Alone: exit 0, or 1 when a check failed. With PROGRAM: run "
                    "the job only when no check failed"));
  app.add_flag("--version", version, wrap("Print baton-run's version and exit"));

  auto usage_error = [&](const std::string& message) {
    std::fprintf(stderr, "baton-run: error: %s\nRun 'baton-run --help' for the options.\n",
                 message.c_str());
    *exit_code = kUsageExit;
    return std::nullopt;
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help() << std::flush;
    *exit_code = 0;
    return std::nullopt;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help() << std::flush;
    *exit_code = 0;
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }
  if (version) {
    std::cout << "baton-run " << BATON_VERSION << "\n";
    *exit_code = 0;
    return std::nullopt;
  }

  RunConfig config;
  if (!flight_report_dir.empty()) {
    config.flight_report_dir = flight_report_dir;
    return config;
  }
  try {
    config.command = app.remaining();
    if (!config.command.empty() && config.command.front() == "--") {
      config.command.erase(config.command.begin());
    }
    if (config.command.empty() && !doctor) {
      throw UsageError{"no program given; usage: baton-run [OPTIONS] PROGRAM [ARGS...]"};
    }
    const std::string first = app.remaining().empty() ? "--" : app.remaining().front();
    if (first != "--" && first.size() > 1 && first[0] == '-') {
      throw UsageError{"unknown option '" + first + "'" + unsupported_hint(first)};
    }
    config.doctor = doctor;

    launch::JobLayout& layout = config.layout;
    layout.nproc_per_node = parse_nproc(nproc);
    layout.nnodes = parse_nnodes(nnodes);
    layout.node_rank = node_rank;
    if (node_rank < 0 || node_rank >= layout.nnodes) {
      throw UsageError{"--node-rank must be in [0, " + std::to_string(layout.nnodes - 1) +
                       "] for --nnodes " + std::to_string(layout.nnodes) + ", got " +
                       std::to_string(node_rank)};
    }
    if (standalone) {
      if (layout.nnodes != 1 || node_rank != 0) {
        throw UsageError{"--standalone runs a single node; it cannot be combined with --nnodes " +
                         std::to_string(layout.nnodes) + " or --node-rank " +
                         std::to_string(node_rank)};
      }
      for (const CLI::Option* opt : {addr_opt, port_opt}) {
        if (opt->count() > 0) {
          throw UsageError{"--standalone uses 127.0.0.1 and picks a free port; drop " +
                           opt->get_name()};
        }
      }
    }
    if (layout.nnodes > 1 && addr_opt->count() == 0) {
      throw UsageError{"--nnodes " + std::to_string(layout.nnodes) +
                       " needs --master-addr, the address of node 0 that every node can reach"};
    }
    if (port_opt->count() > 0 && (master_port < 1 || master_port > 65535)) {
      throw UsageError{"--master-port must be in [1, 65535], got " + std::to_string(master_port) +
                       (master_port == 0 ? " (use --standalone to pick a free port)" : "")};
    }
    if (!std::isfinite(grace_seconds) || grace_seconds < 0 || grace_seconds > 86400) {
      throw UsageError{"--grace-period must be between 0 and 86400 seconds, got " +
                       std::to_string(grace_seconds)};
    }
    config.grace_period =
        std::chrono::milliseconds(static_cast<int64_t>(std::llround(grace_seconds * 1000.0)));
    config.prefix_output = !no_prefix;
    if (max_restarts < 0 || max_restarts > 1 << 20) {
      throw UsageError{"--max-restarts must be between 0 and " + std::to_string(1 << 20) +
                       ", got " + std::to_string(max_restarts)};
    }
    config.max_restarts = max_restarts;

    config.standalone = standalone;
    layout.master_addr = standalone ? "127.0.0.1" : master_addr;
    layout.master_port = standalone ? 0 : master_port;  // main binds the port for --standalone
    if (job_id.empty()) job_id = config::get_string("BATON_JOB_ID");
    // Several nodes without an id: the ranks' rendezvous makes a random one up.
    if (job_id.empty() && layout.nnodes == 1) job_id = random_hex();
    layout.job_id = job_id;
    // One node: a fresh secret per job (every rank is our child). Several:
    // only what the user gives, the same file or variable on every node.
    const launch::JobSecret secret = launch::choose_job_secret(secret_file, layout.nnodes == 1);
    layout.secret = secret.text;
    layout.secret_file = secret.file;
    config.secret = secret;
  } catch (const UsageError& e) {
    return usage_error(e.message);
  } catch (const Error& e) {
    return usage_error(e.what());
  }
  return config;
}

}  // namespace baton::tools
