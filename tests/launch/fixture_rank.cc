// A rank program for the launcher tests: behaves as its arguments say.
//
//   fixture_rank env              print the launcher's variables, one NAME=value a line
//   fixture_rank exit CODE        exit with CODE at once
//   fixture_rank partial          print a line without a newline and exit 0
//   fixture_rank store            as a client of the TcpStore at
//                                 BATON_STORE_ADDR:BATON_STORE_PORT (the launcher's),
//                                 count the ranks in and wait for all, then print
//                                 "store ok rank=R of W"
//   fixture_rank big BYTES        print about BYTES to stdout and to stderr, in lines
//                                 "rank R line I xxxx", then exit 0
//   fixture_rank wait ACTION...   print "ready rank=R pid=P", then wait for signals:
//       exit:CODE    SIGUSR1 makes the rank exit with CODE
//       signal:SIG   SIGUSR1 makes the rank kill itself with signal number SIG
//       ignore-term  SIGTERM is ignored
//       count-int    each SIGINT prints "rank R got SIGINT" (and does not exit)
//   fixture_rank init URL         init_process_group(URL) with RANK and WORLD_SIZE passed
//                                 explicitly (URL "launcher": the launcher's store,
//                                 tcp://BATON_STORE_ADDR:BATON_STORE_PORT; "localhost":
//                                 tcp://localhost:BATON_STORE_PORT; "master":
//                                 tcp://MASTER_ADDR:MASTER_PORT), all_reduce rank+1,
//                                 print "init ok rank=R sum=S"
//   fixture_rank race FIRST DIR   print "ready rank=R pid=P"; then rank 0 exits with code 3
//                                 and rank 1 kills itself with SIGKILL, one after the
//                                 other: FIRST "exit" or "signal" says which goes first,
//                                 the second waits until the first has exited (its pid
//                                 in DIR/first), then 20 ms; other ranks wait to be stopped
//   fixture_rank restart GOOD     print "attempt A rank R pid=P torchelastic=T max=M port=Q"
//                                 (BATON_RESTART_COUNT, TORCHELASTIC_*, BATON_STORE_PORT); in
//                                 attempts before GOOD the last rank kills itself with
//                                 SIGKILL at once while the others block in rendezvous;
//                                 else init_process_group (env://), all_reduce rank+1,
//                                 print "attempt A rank R sum=S"
//   fixture_rank stuck HOW        init_process_group (env://, 1.5 s timeout), two
//                                 all_reduces, then the last rank stops issuing: HOW
//                                 "stop" raises SIGSTOP, "busy" sleeps until killed;
//                                 the others' third all_reduce times out (exit 1)
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "baton/baton.hpp"

namespace {

int g_rank = -1;
int g_exit_code = 0;
int g_raise_signal = 0;

void write_text(int fd, const char* text) {
  size_t left = std::strlen(text);
  while (left > 0) {
    const ssize_t n = ::write(fd, text, left);
    if (n <= 0) return;
    text += n;
    left -= static_cast<size_t>(n);
  }
}

void on_usr1(int) {
  if (g_raise_signal != 0) {
    ::signal(g_raise_signal, SIG_DFL);
    ::raise(g_raise_signal);
  }
  ::_exit(g_exit_code);
}

void on_int(int) {
  // Async-signal-safe: format by hand.
  char line[64] = "rank ";
  size_t n = std::strlen(line);
  line[n++] = static_cast<char>('0' + g_rank % 10);
  std::strcpy(line + n, " got SIGINT\n");
  write_text(STDOUT_FILENO, line);
}

void install(int sig, void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  ::sigaction(sig, &action, nullptr);
}

int print_env() {
  for (const char* name :
       {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
        "ROLE_NAME", "ROLE_RANK", "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
        "BATON_STORE_ADDR", "BATON_STORE_PORT", "BATON_JOB_ID", "BATON_AGENT_STORE",
        "TORCHELASTIC_RUN_ID", "TORCHELASTIC_USE_AGENT_STORE"}) {
    const char* value = std::getenv(name);
    std::printf("%s=%s\n", name, value != nullptr ? value : "<unset>");
  }
  std::fprintf(stderr, "stderr RANK=%d\n", g_rank);
  return 0;
}

int meet_in_store() {
  const int world_size = std::atoi(std::getenv("WORLD_SIZE"));
  baton::TcpStore store(std::getenv("BATON_STORE_ADDR"),
                        static_cast<uint16_t>(std::atoi(std::getenv("BATON_STORE_PORT"))),
                        {.timeout = std::chrono::seconds(20)});
  if (store.add("arrived", 1) == world_size) store.set("all", "here");
  if (store.get_string("all") != "here") return 3;
  std::printf("store ok rank=%d of %d\n", g_rank, world_size);
  return 0;
}

int print_big(long bytes) {
  const std::string padding(100, 'x');
  long written = 0;
  for (long i = 0; written < bytes; ++i) {
    const std::string line =
        "rank " + std::to_string(g_rank) + " line " + std::to_string(i) + " " + padding + "\n";
    std::fputs(line.c_str(), stdout);
    std::fputs(line.c_str(), stderr);
    written += static_cast<long>(line.size());
  }
  return 0;
}

int wait_for_signals(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    const std::string action = argv[i];
    if (action.rfind("exit:", 0) == 0) {
      g_exit_code = std::atoi(action.c_str() + 5);
      install(SIGUSR1, on_usr1);
    } else if (action.rfind("signal:", 0) == 0) {
      g_raise_signal = std::atoi(action.c_str() + 7);
      const rlimit no_core{0, 0};
      ::setrlimit(RLIMIT_CORE, &no_core);  // no core files from the SIGSEGV test
      install(SIGUSR1, on_usr1);
    } else if (action == "ignore-term") {
      ::signal(SIGTERM, SIG_IGN);
    } else if (action == "count-int") {
      install(SIGINT, on_int);
    } else if (action != "none") {
      std::fprintf(stderr, "fixture_rank: unknown action '%s'\n", action.c_str());
      return 2;
    }
  }
  std::printf("ready rank=%d pid=%d\n", g_rank, static_cast<int>(::getpid()));
  std::fflush(stdout);
  while (true) ::pause();
}

int env_int(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::atoi(value) : -1;
}

// all_reduce of rank+1 over the default group: W(W+1)/2 on every rank.
int64_t sum_of_ranks() {
  baton::Tensor t = baton::Tensor::full({1}, g_rank + 1, baton::DType::Int64);
  baton::all_reduce(t);
  return t.data<int64_t>()[0];
}

int init_with(std::string url) {
  const std::string port = std::getenv("BATON_STORE_PORT");
  if (url == "launcher") url = std::string("tcp://") + std::getenv("BATON_STORE_ADDR") + ":" + port;
  if (url == "localhost") url = "tcp://localhost:" + port;
  if (url == "master") {
    url = std::string("tcp://") + std::getenv("MASTER_ADDR") + ":" + std::getenv("MASTER_PORT");
  }
  baton::init_process_group({.init_method = url,
                             .rank = g_rank,
                             .world_size = env_int("WORLD_SIZE"),
                             .timeout = std::chrono::seconds(10)});
  const int64_t sum = sum_of_ranks();
  baton::destroy_process_group();
  std::printf("init ok rank=%d sum=%lld\n", g_rank, static_cast<long long>(sum));
  return 0;
}

// Blocks until process `pid` has exited (or is gone already).
void wait_for_exit(pid_t pid) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return;  // reaped already
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  while (::poll(&p, 1, -1) < 0) {
  }
  ::close(fd);
}

int race(const std::string& first, const std::string& dir) {
  std::printf("ready rank=%d pid=%d\n", g_rank, static_cast<int>(::getpid()));
  std::fflush(stdout);
  const bool exit_first = first == "exit";
  const int leader = exit_first ? 0 : 1;
  auto finish = [&] {
    if (g_rank == 0) ::_exit(3);
    ::raise(SIGKILL);
  };
  const std::string marker = dir + "/first";
  if (g_rank == leader) {
    std::ofstream(marker + ".tmp") << ::getpid() << "\n";
    std::rename((marker + ".tmp").c_str(), marker.c_str());
    finish();
  } else if (g_rank == 1 - leader) {
    pid_t pid = 0;
    while (!(std::ifstream(marker) >> pid))
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    wait_for_exit(pid);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    finish();
  }
  while (true) ::pause();
}

// Rank 1 stops itself (SIGSTOP); rank 0 waits until it is stopped, then
// exits with code 3 as a peer that timed out would.
int stopped() {
  std::printf("ready rank=%d pid=%d\n", g_rank, static_cast<int>(::getpid()));
  std::fflush(stdout);
  if (g_rank == 1) ::raise(SIGSTOP);
  if (g_rank == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::_exit(3);
  }
  while (true) ::pause();
}

int restart(int good_attempt) {
  const int attempt = env_int("BATON_RESTART_COUNT");
  const int world_size = env_int("WORLD_SIZE");
  std::printf("attempt %d rank %d pid=%d torchelastic=%d max=%d port=%s\n", attempt, g_rank,
              static_cast<int>(::getpid()), env_int("TORCHELASTIC_RESTART_COUNT"),
              env_int("TORCHELASTIC_MAX_RESTARTS"), std::getenv("BATON_STORE_PORT"));
  std::fflush(stdout);
  if (attempt < good_attempt && g_rank == world_size - 1) ::raise(SIGKILL);
  baton::init_process_group({.timeout = std::chrono::seconds(20)});
  const int64_t sum = sum_of_ranks();
  baton::destroy_process_group();
  std::printf("attempt %d rank %d sum=%lld\n", attempt, g_rank, static_cast<long long>(sum));
  return 0;
}

int stuck(const std::string& how) {
  baton::init_process_group({.timeout = std::chrono::milliseconds(1500)});
  const int world_size = baton::get_world_size();
  sum_of_ranks();
  sum_of_ranks();
  if (g_rank == world_size - 1) {
    if (how == "stop") ::raise(SIGSTOP);
    while (true) ::pause();
  }
  sum_of_ranks();  // times out: the last rank never joins
  return 0;
}

}  // namespace

int dispatch(int argc, char** argv);

int main(int argc, char** argv) {
  try {
    return dispatch(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fixture_rank: rank %d: %s\n", g_rank, e.what());
    return 1;
  }
}

int dispatch(int argc, char** argv) {
  const char* rank = std::getenv("RANK");
  g_rank = rank != nullptr ? std::atoi(rank) : -1;
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "env") return print_env();
  if (mode == "exit" && argc > 2) return std::atoi(argv[2]);
  if (mode == "partial") {
    std::fputs("partial line without newline", stdout);
    return 0;
  }
  if (mode == "store") return meet_in_store();
  if (mode == "big" && argc > 2) return print_big(std::atol(argv[2]));
  if (mode == "wait") return wait_for_signals(argc, argv);
  if (mode == "init" && argc > 2) return init_with(argv[2]);
  if (mode == "race" && argc > 3) return race(argv[2], argv[3]);
  if (mode == "restart" && argc > 2) return restart(std::atoi(argv[2]));
  if (mode == "stopped") return stopped();
  if (mode == "stuck" && argc > 2) return stuck(argv[2]);
  std::fprintf(stderr, "fixture_rank: unknown mode '%s'\n", mode.c_str());
  return 2;
}
