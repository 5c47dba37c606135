// The baton-store program: it reports the port it bound, refuses a port in
// use with a clear message, serves clients, makes them prove the secret of
// --secret-file (refusing a file others can read), and when it is killed a
// client blocked in get() fails at once naming its address.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <regex>
#include <thread>

#include "baton/error.hpp"
#include "baton/tcp_store.hpp"
#include "tests/store/store_test_util.hpp"
#include "tests/support/scoped_env.hpp"

#ifndef BATON_STORE_EXE
#error "BATON_STORE_EXE must name the baton-store executable"
#endif

namespace baton::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A running baton-store with its stdout and stderr in pipes.
class StoreProcess {
 public:
  explicit StoreProcess(std::vector<std::string> args) {
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      std::vector<char*> argv;
      std::string exe = BATON_STORE_EXE;
      argv.push_back(exe.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(exe.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~StoreProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_);
    ::close(err_);
  }

  // The first line of stdout, waiting up to 10 s.
  std::string first_line() {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char c[256];
      const ssize_t n = ::read(out_, c, sizeof(c));
      if (n <= 0) break;
      line.append(c, static_cast<size_t>(n));
    }
    return line.substr(0, line.find('\n'));
  }

  // Waits for the exit (up to 10 s) and returns the exit code, or -signal.
  int wait_exit() {
    const auto deadline = std::chrono::steady_clock::now() + seconds(10);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) return 1000;
      std::this_thread::sleep_for(milliseconds(5));
    }
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }

  std::string stderr_text() {
    std::string text;
    char c[1024];
    ssize_t n = 0;
    while ((n = ::read(err_, c, sizeof(c))) > 0) text.append(c, static_cast<size_t>(n));
    return text;
  }

  void signal(int sig) { ::kill(pid_, sig); }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int err_ = -1;
  bool exited_ = false;
};

uint16_t parse_port(const std::string& line) {
  std::smatch m;
  static const std::regex kListening("^baton-store listening on 127\\.0\\.0\\.1:([0-9]+)$");
  if (!std::regex_match(line, m, kListening)) return 0;
  return static_cast<uint16_t>(std::stoi(m[1]));
}

TEST(BatonStoreTool, ReportsItsPortServesClientsAndStopsOnSigterm) {
  TempDir dir;
  const std::string port_file = dir.file("port");
  StoreProcess server({"--port", "0", "--port-file", port_file});
  const std::string line = server.first_line();
  const uint16_t port = parse_port(line);
  ASSERT_NE(port, 0) << "unexpected first line: '" << line << "'";
  std::ifstream in(port_file);
  int from_file = 0;
  in >> from_file;
  EXPECT_EQ(from_file, port);

  TcpStore a("127.0.0.1", port, TcpStoreOptions{.timeout = seconds(30)});
  TcpStore b("127.0.0.1", port, TcpStoreOptions{.timeout = seconds(30)});
  a.set("k", std::string_view("v"));
  EXPECT_EQ(b.get_string("k"), "v");

  server.signal(SIGTERM);
  EXPECT_EQ(server.wait_exit(), 0);
}

TEST(BatonStoreTool, APortInUseIsRefusedNamingThePort) {
  StoreProcess first({"--port", "0"});
  const uint16_t port = parse_port(first.first_line());
  ASSERT_NE(port, 0);
  StoreProcess second({"--port", std::to_string(port)});
  EXPECT_EQ(second.wait_exit(), 1);
  const std::string err = second.stderr_text();
  EXPECT_NE(err.find("port " + std::to_string(port) + " is in use"), std::string::npos) << err;
}

TEST(BatonStoreTool, BadArgumentsExitWithTwo) {
  StoreProcess bad({"--port", "70000"});
  EXPECT_EQ(bad.wait_exit(), 2);
  StoreProcess missing({});
  EXPECT_EQ(missing.wait_exit(), 2);
}

TEST(BatonStoreTool, ASecretFileMakesEveryClientProveTheSecret) {
  ScopedEnv env;
  env.unset("BATON_SECRET").unset("BATON_SECRET_FILE");
  TempDir dir;
  const std::string secret = "tool-test-secret-0123456789abcdef";
  const std::string file = dir.file("secret");
  {
    std::ofstream out(file);
    out << secret << "\n";
  }
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  StoreProcess server({"--port", "0", "--secret-file", file});
  const uint16_t port = parse_port(server.first_line());
  ASSERT_NE(port, 0);
  TcpStore good("127.0.0.1", port, TcpStoreOptions{.timeout = seconds(10), .secret = secret});
  good.set("k", std::string_view("proved"));
  EXPECT_EQ(good.get_string("k"), "proved");
  EXPECT_THROW(TcpStore("127.0.0.1", port, TcpStoreOptions{.timeout = seconds(10)}),
               AuthenticationError);
  server.signal(SIGTERM);
  EXPECT_EQ(server.wait_exit(), 0);
}

TEST(BatonStoreTool, ASecretFileOthersCanReadIsRefused) {
  ScopedEnv env;
  env.unset("BATON_SECRET").unset("BATON_SECRET_FILE");
  TempDir dir;
  const std::string file = dir.file("secret");
  {
    std::ofstream out(file);
    out << "tool-test-secret-0123456789abcdef\n";
  }
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  StoreProcess server({"--port", "0", "--secret-file", file});
  EXPECT_EQ(server.wait_exit(), 1);
  const std::string err = server.stderr_text();
  EXPECT_NE(err.find(file), std::string::npos) << err;
}

TEST(BatonStoreTool, KillingTheServerFailsABlockedGetAtOnceNamingItsAddress) {
  StoreProcess server({"--port", "0"});
  const uint16_t port = parse_port(server.first_line());
  ASSERT_NE(port, 0);
  TcpStore client("127.0.0.1", port, TcpStoreOptions{.timeout = seconds(60)});
  auto blocked = std::async(std::launch::async, [&] {
    try {
      client.get("never");
      return std::string("get returned");
    } catch (const ConnectionError& e) {
      return std::string(e.what());
    } catch (const std::exception& e) {
      return std::string("wrong exception: ") + e.what();
    }
  });
  // Give the get a moment to reach the server. Not a synchronisation: if the
  // kill came first, the get meets a dead connection, which must also be a
  // ConnectionError naming the address.
  std::this_thread::sleep_for(milliseconds(100));
  Stopwatch watch;
  server.signal(SIGKILL);
  EXPECT_EQ(server.wait_exit(), -SIGKILL);
  const std::string what = blocked.get();
  EXPECT_LT(watch.elapsed().count(), 1000);
  EXPECT_NE(what.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << what;
}

}  // namespace
}  // namespace baton::testing
