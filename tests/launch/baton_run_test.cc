// baton-run, run as a program on fixture ranks (fixture_rank.cc).
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

#include "tests/launch/command.hpp"

namespace baton::testing {
namespace {

using namespace std::chrono_literals;

const std::string kBatonRun = BATON_RUN_PATH;
const std::string kFixture = FIXTURE_PATH;
constexpr std::string_view kFixtureName = "launch_fixture_rank";

std::vector<std::string> baton_run(std::vector<std::string> args) {
  args.insert(args.begin(), kBatonRun);
  return args;
}

std::vector<int> rank_pids(const Command& cmd, int nranks) {
  return ready_pids(cmd.out(), nranks);
}

void expect_all_gone(const std::vector<int>& pids) {
  for (size_t r = 0; r < pids.size(); ++r) {
    EXPECT_GT(pids[r], 0) << "rank " << r << " never reported its pid";
    EXPECT_FALSE(process_alive(pids[r], kFixtureName))
        << "rank " << r << " (pid " << pids[r] << ") is still running after baton-run exited";
  }
}

// Starts `nranks` fixture ranks in "wait" mode and waits until all are ready.
std::unique_ptr<Command> start_waiting(int nranks, std::vector<std::string> options,
                                       std::vector<std::string> actions) {
  std::vector<std::string> args = std::move(options);
  args.insert(args.end(), {"--nproc-per-node", std::to_string(nranks), kFixture, "wait"});
  args.insert(args.end(), actions.begin(), actions.end());
  auto cmd = std::make_unique<Command>(baton_run(args));
  EXPECT_TRUE(cmd->wait_for_stdout("ready rank=", static_cast<size_t>(nranks), 10s))
      << "stdout:\n"
      << cmd->out() << "stderr:\n"
      << cmd->err();
  return cmd;
}

TEST(BatonRun, StandaloneGivesEachRankItsVariablesWithPrefixes) {
  Command cmd(baton_run({"--standalone", "--nproc-per-node", "4", kFixture, "env"}));
  ASSERT_TRUE(cmd.wait(20s));
  EXPECT_EQ(cmd.exit_code(), 0) << cmd.err();
  std::set<std::string> ports, store_ports, job_ids;
  for (int r = 0; r < 4; ++r) {
    const std::string p = "[" + std::to_string(r) + "] ";
    const std::string rs = std::to_string(r);
    EXPECT_EQ(count_of(cmd.out(), p + "RANK=" + rs + "\n"), 1u) << cmd.out();
    EXPECT_EQ(count_of(cmd.out(), p + "LOCAL_RANK=" + rs + "\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "WORLD_SIZE=4\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "LOCAL_WORLD_SIZE=4\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "GROUP_RANK=0\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "GROUP_WORLD_SIZE=1\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "MASTER_ADDR=127.0.0.1\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "BATON_AGENT_STORE=1\n"), 1u) << "baton-run serves the store";
    EXPECT_EQ(count_of(cmd.out(), p + "BATON_STORE_ADDR=127.0.0.1\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "ROLE_NAME=default\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "ROLE_RANK=" + rs + "\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "ROLE_WORLD_SIZE=4\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "TORCHELASTIC_USE_AGENT_STORE=False\n"), 1u)
        << "a torch rank 0 must bind MASTER_PORT itself";
    EXPECT_EQ(count_of(cmd.err(), p + "stderr RANK=" + rs + "\n"), 1u) << cmd.err();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(cmd.out(), m, std::regex("\\[" + rs + "\\] MASTER_PORT=(\\d+)")));
    ports.insert(m[1]);
    ASSERT_TRUE(
        std::regex_search(cmd.out(), m, std::regex("\\[" + rs + "\\] BATON_STORE_PORT=(\\d+)")));
    store_ports.insert(m[1]);
    ASSERT_TRUE(std::regex_search(cmd.out(), m,
                                  std::regex("\\[" + rs + "\\] BATON_JOB_ID=([0-9a-f]{16})\n")));
    job_ids.insert(m[1]);
    EXPECT_EQ(count_of(cmd.out(), p + "TORCHELASTIC_RUN_ID=" + std::string(m[1]) + "\n"), 1u)
        << "TORCHELASTIC_RUN_ID is the job id";
  }
  EXPECT_EQ(ports.size(), 1u) << "every rank must get the same MASTER_PORT";
  EXPECT_EQ(store_ports.size(), 1u) << "every rank must get the same BATON_STORE_PORT";
  EXPECT_EQ(job_ids.size(), 1u) << "every rank must get the same BATON_JOB_ID";
  EXPECT_NE(*ports.begin(), "29500") << "--standalone picks a free port";
  EXPECT_NE(*ports.begin(), *store_ports.begin())
      << "MASTER_PORT is left free for a torch.distributed rank 0; baton-run's store has its own";
  // Every line of output carries a rank prefix.
  std::istringstream lines(cmd.out() + cmd.err());
  for (std::string line; std::getline(lines, line);) {
    EXPECT_TRUE(std::regex_match(line, std::regex(R"(\[[0-3]\] .*)"))) << line;
  }
}

TEST(BatonRun, StaticRanksOfASecondNode) {
  Command cmd(
      baton_run({"--nnodes", "2", "--node_rank", "1", "--nproc_per_node", "2", "--master-addr",
                 "127.0.0.1", "--master-port", "29999", "--rdzv-id", "job42", kFixture, "env"}));
  ASSERT_TRUE(cmd.wait(20s));
  EXPECT_EQ(cmd.exit_code(), 0) << cmd.err();
  for (int local = 0; local < 2; ++local) {
    const std::string p = "[" + std::to_string(2 + local) + "] ";
    EXPECT_EQ(count_of(cmd.out(), p + "RANK=" + std::to_string(2 + local) + "\n"), 1u) << cmd.out();
    EXPECT_EQ(count_of(cmd.out(), p + "LOCAL_RANK=" + std::to_string(local) + "\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "WORLD_SIZE=4\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "LOCAL_WORLD_SIZE=2\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "GROUP_RANK=1\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "GROUP_WORLD_SIZE=2\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "MASTER_PORT=29999\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "BATON_STORE_ADDR=127.0.0.1\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "BATON_STORE_PORT=29999\n"), 1u) << "rank 0's store";
    EXPECT_EQ(count_of(cmd.out(), p + "ROLE_RANK=" + std::to_string(2 + local) + "\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "TORCHELASTIC_RUN_ID=job42\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "BATON_JOB_ID=job42\n"), 1u);
    EXPECT_EQ(count_of(cmd.out(), p + "BATON_AGENT_STORE=0\n"), 1u) << "rank 0 serves the store";
  }
}

TEST(BatonRun, StandaloneServesTheStoreForEveryRank) {
  // Two jobs at once on one machine: each gets its own store and port.
  Command a(baton_run({"--standalone", "--nproc-per-node", "4", kFixture, "store"}));
  Command b(baton_run({"--standalone", "--nproc-per-node", "3", kFixture, "store"}));
  ASSERT_TRUE(a.wait(30s));
  ASSERT_TRUE(b.wait(30s));
  EXPECT_EQ(a.exit_code(), 0) << a.err();
  EXPECT_EQ(b.exit_code(), 0) << b.err();
  for (int r = 0; r < 4; ++r) {
    const std::string rs = std::to_string(r);
    EXPECT_EQ(count_of(a.out(), "[" + rs + "] store ok rank=" + rs + " of 4\n"), 1u) << a.out();
    if (r < 3) {
      EXPECT_EQ(count_of(b.out(), "[" + rs + "] store ok rank=" + rs + " of 3\n"), 1u) << b.out();
    }
  }
}

TEST(BatonRun, AllRanksExitZeroGivesZero) {
  Command cmd(baton_run({"--nproc-per-node", "3", kFixture, "exit", "0"}));
  ASSERT_TRUE(cmd.wait(20s));
  EXPECT_EQ(cmd.exit_code(), 0);
  EXPECT_EQ(cmd.err(), "");
}

TEST(BatonRun, ProgramIsFoundOnPathAndKeepsItsOptions) {
  Command cmd(baton_run({"--nproc-per-node", "2", "echo", "--nproc-per-node", "5"}));
  ASSERT_TRUE(cmd.wait(20s));
  EXPECT_EQ(cmd.exit_code(), 0) << cmd.err();
  EXPECT_EQ(count_of(cmd.out(), "[0] --nproc-per-node 5\n"), 1u) << cmd.out();
  EXPECT_EQ(count_of(cmd.out(), "[1] --nproc-per-node 5\n"), 1u) << cmd.out();
}

TEST(BatonRun, RankExitCodeStopsTheOthersAndIsReturned) {
  auto cmd = start_waiting(4, {}, {"exit:3"});
  const std::vector<int> pids = rank_pids(*cmd, 4);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(pids[2], SIGUSR1), 0);
  ASSERT_TRUE(cmd->wait(20s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(cmd->exit_code(), 3);
  const std::string expected = "baton-run: rank 2 (local rank 2, pid " + std::to_string(pids[2]) +
                               ") exited with code 3; stopping 3 other ranks\n";
  EXPECT_EQ(count_of(cmd->err(), expected), 1u) << cmd->err();
  expect_all_gone(pids);
}

TEST(BatonRun, RankKilledBySegfaultIsNamed) {
  auto cmd = start_waiting(3, {}, {"signal:11"});
  const std::vector<int> pids = rank_pids(*cmd, 3);
  ASSERT_EQ(::kill(pids[1], SIGUSR1), 0);
  ASSERT_TRUE(cmd->wait(20s));
  EXPECT_EQ(cmd->exit_code(), 128 + SIGSEGV);
  EXPECT_NE(cmd->err().find("baton-run: rank 1 (local rank 1, pid " + std::to_string(pids[1]) +
                            ") was killed by SIGSEGV"),
            std::string::npos)
      << cmd->err();
  EXPECT_NE(cmd->err().find("stopping 2 other ranks"), std::string::npos);
  expect_all_gone(pids);
}

TEST(BatonRun, RankKilledBySigkillIsNamed) {
  auto cmd = start_waiting(2, {}, {});
  const std::vector<int> pids = rank_pids(*cmd, 2);
  ASSERT_EQ(::kill(pids[0], SIGKILL), 0);
  ASSERT_TRUE(cmd->wait(20s));
  EXPECT_EQ(cmd->exit_code(), 128 + SIGKILL);
  EXPECT_NE(cmd->err().find("rank 0 (local rank 0, pid " + std::to_string(pids[0]) +
                            ") was killed by SIGKILL (Killed); stopping 1 other rank"),
            std::string::npos)
      << cmd->err();
  expect_all_gone(pids);
}

TEST(BatonRun, RankIgnoringSigtermIsKilledAfterTheGracePeriod) {
  auto cmd = start_waiting(3, {"--grace-period", "1"}, {"ignore-term", "exit:5"});
  const std::vector<int> pids = rank_pids(*cmd, 3);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(pids[0], SIGUSR1), 0);
  ASSERT_TRUE(cmd->wait(20s));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 1s) << "SIGKILL must wait for the grace period";
  EXPECT_LT(took, 5s);
  EXPECT_EQ(cmd->exit_code(), 5);
  for (int r : {1, 2}) {
    EXPECT_NE(cmd->err().find("rank " + std::to_string(r) + " (local rank " + std::to_string(r) +
                              ", pid " + std::to_string(pids[static_cast<size_t>(r)]) +
                              ") still running 1 s after SIGTERM; sending SIGKILL"),
              std::string::npos)
        << cmd->err();
  }
  expect_all_gone(pids);
}

TEST(BatonRun, SigintIsForwardedOnceToEveryRank) {
  auto cmd = start_waiting(3, {"--grace-period", "0.5"}, {"count-int"});
  const std::vector<int> pids = rank_pids(*cmd, 3);
  cmd->send(SIGINT);
  ASSERT_TRUE(cmd->wait(20s));
  EXPECT_EQ(cmd->exit_code(), 128 + SIGINT);
  EXPECT_NE(cmd->err().find("baton-run: received SIGINT; forwarding it to 3 ranks"),
            std::string::npos)
      << cmd->err();
  for (int r = 0; r < 3; ++r) {
    const std::string p = "[" + std::to_string(r) + "] ";
    EXPECT_EQ(count_of(cmd->out(), p + "rank " + std::to_string(r) + " got SIGINT\n"), 1u)
        << cmd->out();
  }
  expect_all_gone(pids);
}

TEST(BatonRun, SigtermStopsEveryRank) {
  auto cmd = start_waiting(4, {}, {});
  const std::vector<int> pids = rank_pids(*cmd, 4);
  const auto t0 = std::chrono::steady_clock::now();
  cmd->send(SIGTERM);
  ASSERT_TRUE(cmd->wait(20s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(cmd->exit_code(), 128 + SIGTERM);
  expect_all_gone(pids);
}

TEST(BatonRun, SecondSigintKillsWithoutWaitingForTheGracePeriod) {
  auto cmd = start_waiting(2, {"--grace-period", "60"}, {"count-int"});
  const std::vector<int> pids = rank_pids(*cmd, 2);
  const auto t0 = std::chrono::steady_clock::now();
  cmd->send(SIGINT);
  ASSERT_TRUE(cmd->wait_for_stdout("got SIGINT", 2, 10s)) << cmd->out();
  cmd->send(SIGINT);
  ASSERT_TRUE(cmd->wait(20s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(cmd->exit_code(), 128 + SIGINT);
  EXPECT_NE(cmd->err().find("sending SIGKILL to 2 ranks"), std::string::npos) << cmd->err();
  expect_all_gone(pids);
}

TEST(BatonRun, RanksDieWhenTheLauncherIsKilled) {
  auto cmd = start_waiting(3, {}, {});
  const std::vector<int> pids = rank_pids(*cmd, 3);
  cmd->send(SIGKILL);
  ASSERT_TRUE(cmd->wait(20s));
  // PR_SET_PDEATHSIG kills the orphans; give the kernel a moment to do it.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (size_t r = 0; r < pids.size(); ++r) {
    while (process_alive(pids[r], kFixtureName) && std::chrono::steady_clock::now() < deadline) {
      ::usleep(10'000);
    }
    EXPECT_FALSE(process_alive(pids[r], kFixtureName)) << "rank " << r << " outlived baton-run";
  }
}

// baton-run on a pseudo-terminal, as if typed at a shell: its output and the
// exit code once it ends. `on_ready` runs when stdout holds `ready_count`
// "ready" lines, with the terminal's master fd, baton-run's pid and the
// output so far.
struct TerminalRun {
  std::string output;
  int exit_code = -1;
};

TerminalRun run_in_terminal(std::vector<std::string> args, size_t ready_count,
                            const std::function<void(int, pid_t, const std::string&)>& on_ready) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  if (pid < 0) throw std::runtime_error("forkpty failed");
  if (pid == 0) {
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  TerminalRun run;
  bool fired = ready_count == 0;
  if (fired) on_ready(master, pid, run.output);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::read(master, buffer, sizeof buffer);
    if (n <= 0) break;  // EIO: every process holding the terminal is gone
    run.output.append(buffer, static_cast<size_t>(n));
    if (!fired && count_of(run.output, "ready rank=") >= ready_count) {
      fired = true;
      on_ready(master, pid, run.output);
    }
  }
  ::close(master);
  int status = 0;
  if (std::chrono::steady_clock::now() >= deadline) ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  run.exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  return run;
}

TEST(BatonRun, CtrlCInATerminalReachesEachRankOnce) {
  // The terminal sends SIGINT to its foreground process group. Ranks run in a
  // group of their own, so only baton-run gets it, and forwards it once.
  // --standalone: the store server's thread must not take the signal either.
  std::vector<pid_t> groups;
  const TerminalRun run =
      run_in_terminal({kBatonRun, "--standalone", "--grace-period", "0.5", "--nproc-per-node", "3",
                       kFixture, "wait", "count-int"},
                      3, [&](int master, pid_t launcher, const std::string& output) {
                        groups.push_back(::getpgid(launcher));
                        for (int pid : numbers_after(output, "pid="))
                          groups.push_back(::getpgid(pid));
                        ASSERT_EQ(::write(master, "\x03", 1), 1);
                      });
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_NE(groups[1], groups[0]) << "ranks must not be in the launcher's process group";
  EXPECT_EQ(groups[2], groups[1]) << "ranks share one process group";
  EXPECT_EQ(groups[3], groups[1]) << "ranks share one process group";
  EXPECT_EQ(run.exit_code, 128 + SIGINT) << run.output;
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(count_of(run.output, "rank " + std::to_string(r) + " got SIGINT"), 1u) << run.output;
  }
  EXPECT_NE(run.output.find("received SIGINT; forwarding it to 3 ranks"), std::string::npos);
}

TEST(BatonRun, RanksReadingATerminalGetEndOfFile) {
  // A rank outside the foreground group that read the terminal would be
  // stopped by SIGTTIN; baton-run gives ranks /dev/null instead.
  const TerminalRun run = run_in_terminal({kBatonRun, "--nproc-per-node", "2", "cat"}, 0,
                                          [](int, pid_t, const std::string&) {});
  EXPECT_EQ(run.exit_code, 0) << run.output;
}

// Every line must arrive whole, under the right prefix, in order.
void check_big_stream(const std::string& text, int nranks, const char* stream) {
  std::vector<long> next(static_cast<size_t>(nranks), 0);
  const std::regex line_re(R"(\[(\d+)\] rank (\d+) line (\d+) x{100})");
  std::istringstream lines(text);
  size_t bad = 0;
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (!std::regex_match(line, m, line_re) || m[1] != m[2]) {
      if (++bad < 5) ADD_FAILURE() << stream << ": mangled line '" << line.substr(0, 200) << "'";
      continue;
    }
    const size_t rank = std::stoul(m[1]);
    ASSERT_LT(rank, next.size());
    EXPECT_EQ(std::stol(m[3]), next[rank]) << stream << ": rank " << rank << " lost lines";
    next[rank] = std::stol(m[3]) + 1;
  }
  EXPECT_EQ(bad, 0u);
  for (int r = 0; r < nranks; ++r) {
    EXPECT_GT(next[static_cast<size_t>(r)], 40000) << stream << ": rank " << r;
  }
}

TEST(BatonRun, LargeOutputDoesNotDeadlockOrInterleave) {
  // 4 ranks x 5 MB on stdout and 5 MB on stderr each.
  Command cmd(baton_run({"--nproc-per-node", "4", kFixture, "big", "5000000"}));
  ASSERT_TRUE(cmd.wait(50s)) << "baton-run did not finish: a pipe deadlock?";
  EXPECT_EQ(cmd.exit_code(), 0);
  check_big_stream(cmd.out(), 4, "stdout");
  check_big_stream(cmd.err(), 4, "stderr");
}

TEST(BatonRun, PartialLastLineIsFlushed) {
  Command cmd(baton_run({kFixture, "partial"}));
  ASSERT_TRUE(cmd.wait(20s));
  EXPECT_EQ(cmd.exit_code(), 0);
  EXPECT_EQ(cmd.out(), "[0] partial line without newline\n");
}

TEST(BatonRun, NoPrefixLeavesOutputAlone) {
  Command cmd(baton_run({"--no-prefix", "--nproc-per-node", "2", kFixture, "env"}));
  ASSERT_TRUE(cmd.wait(20s));
  EXPECT_EQ(cmd.exit_code(), 0);
  std::multiset<std::string> lines;
  std::istringstream in(cmd.out());
  for (std::string line; std::getline(in, line);) lines.insert(line);
  EXPECT_EQ(lines.count("RANK=0"), 1u) << cmd.out();
  EXPECT_EQ(lines.count("RANK=1"), 1u) << cmd.out();
  EXPECT_EQ(lines.count("WORLD_SIZE=2"), 2u) << cmd.out();
  EXPECT_EQ(count_of(cmd.out(), "["), 0u);
}

struct BadInput {
  std::vector<std::string> args;
  int exit_code;
  std::string message;
};

TEST(BatonRun, BadCommandLinesGiveClearErrors) {
  const std::vector<BadInput> cases = {
      {{"--nproc-per-node", "0", "true"}, 2, "--nproc-per-node must be at least 1, got 0"},
      {{"--nproc-per-node", "many", "true"}, 2, "--nproc-per-node must be a whole number"},
      {{}, 2, "no program given"},
      {{"--nproc-per-node", "2"}, 2, "no program given"},
      {{"--bogus", "true"}, 2, "unknown option '--bogus'"},
      {{"--max-restarts", "-1", "true"}, 2, "--max-restarts must be between 0 and"},
      {{"--nnodes", "2", "--node-rank", "2", "--master-addr", "h", "true"},
       2,
       "--node-rank must be in [0, 1]"},
      {{"--nnodes", "2", "true"}, 2, "needs --master-addr"},
      {{"--nnodes", "1:4", "true"}, 2, "elastic node ranges are not supported"},
      {{"--standalone", "--nnodes", "2", "true"}, 2, "--standalone runs a single node"},
      {{"--standalone", "--master-port", "1234", "true"}, 2, "drop --master-port"},
      {{"--master-port", "0", "true"}, 2, "use --standalone"},
      {{"--grace-period", "-1", "true"}, 2, "--grace-period must be between"},
      {{"no-such-program-baton-test"},
       127,
       "cannot run 'no-such-program-baton-test': No such file or directory"},
  };
  for (const BadInput& c : cases) {
    Command cmd(baton_run(c.args));
    ASSERT_TRUE(cmd.wait(20s));
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    EXPECT_EQ(cmd.exit_code(), c.exit_code) << "baton-run " << joined << "\n" << cmd.err();
    EXPECT_NE(cmd.err().find(c.message), std::string::npos)
        << "baton-run " << joined << "\nexpected: " << c.message << "\ngot: " << cmd.err();
    EXPECT_EQ(cmd.out(), "");
  }
}

TEST(BatonRun, HelpSpeaksTorchrun) {
  Command cmd(baton_run({"--help"}));
  ASSERT_TRUE(cmd.wait(20s));
  EXPECT_EQ(cmd.exit_code(), 0);
  for (const char* text :
       {"Usage: baton-run [OPTIONS] PROGRAM [ARGS...]", "torchrun",
        "--nproc-per-node,--nproc_per_node", "--nnodes", "--node-rank", "--master-addr",
        "--master-port", "--standalone", "--grace-period", "--no-prefix", "--max-restarts",
        "LOCAL_WORLD_SIZE", "BATON_JOB_ID", "TORCHELASTIC_RESTART_COUNT", "BATON_RESTART_COUNT"}) {
    EXPECT_NE(cmd.out().find(text), std::string::npos) << "missing: " << text;
  }
}

}  // namespace
}  // namespace baton::testing
