// Transport setup when a peer dies during it: the others get a
// ConnectionError naming the dead rank within about a second (same host: the
// pid it joined the rendezvous with; another host: a published address that
// refuses connections), not a wait for the timeout; and no shared-memory
// segment survives the failed setup, whoever created it.
//
// The "peers" are forked processes that exit or are killed at chosen
// moments; this process is the surviving rank.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "baton/error.hpp"
#include "baton/file_store.hpp"
#include "transport/shm/factory.hpp"
#include "transport/tcp/factory.hpp"

namespace baton::transport {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ::testing::HasSubstr;

// A forked process running body() then exiting; reaped by the destructor.
class Child {
 public:
  explicit Child(const std::function<void()>& body) {
    pid_ = ::fork();
    if (pid_ == 0) {
      try {
        body();
      } catch (...) {
      }
      ::_exit(0);
    }
  }
  ~Child() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

class SetupFailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "baton-setup-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    job_ = "setupfail" + std::to_string(::getpid()) + "x" + std::to_string(counter_++);
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::unique_ptr<FileStore> store() const {
    return std::make_unique<FileStore>(dir_ + "/store",
                                       FileStoreOptions{.timeout = 20s, .job_id = "setup-test"});
  }
  // Segments of this test's job still in /dev/shm.
  int segments_left() const {
    int n = 0;
    std::error_code ignored;
    for (const auto& e : std::filesystem::directory_iterator("/dev/shm", ignored)) {
      if (e.path().filename().string().starts_with("baton-" + job_)) ++n;
    }
    return n;
  }
  std::string dir_;
  std::string job_;
  static inline int counter_ = 0;
};

ShmOptions shm_options(const std::string& job, std::vector<pid_t> pids = {}) {
  ShmOptions o;
  o.timeout = 20s;
  o.job_id = job;
  o.peer_pids = std::move(pids);
  return o;
}

TcpOptions tcp_options(const std::string& job, std::vector<pid_t> pids = {}) {
  TcpOptions o;
  o.listen_address = "127.0.0.1";
  o.timeout = 20s;
  o.job_id = job;
  o.peer_pids = std::move(pids);
  return o;
}

template <class Setup>
std::string connection_error(Setup setup, Clock::duration* took) {
  const auto start = Clock::now();
  try {
    setup();
  } catch (const ConnectionError& e) {
    *took = Clock::now() - start;
    return e.what();
  } catch (const std::exception& e) {
    *took = Clock::now() - start;
    return std::string("<not a ConnectionError> ") + e.what();
  }
  *took = Clock::now() - start;
  return "<no error>";
}

TEST_F(SetupFailureTest, ShmPeerThatExitsBeforeMappingIsNamedAndNoSegmentRemains) {
  Child peer([] { std::this_thread::sleep_for(300ms); });  // rank 1: joined, then gone
  auto s = store();
  Clock::duration took{};
  const std::string what = connection_error(
      [&] {
        make_shm_context(*s, "grp", 0, 2, shm_options(job_, {0, peer.pid()}));
      },
      &took);
  EXPECT_THAT(what, HasSubstr("rank 1 (pid " + std::to_string(peer.pid()) +
                              ") exited during shared-memory setup"));
  EXPECT_LT(took, 2s) << what;
  EXPECT_EQ(segments_left(), 0);
}

TEST_F(SetupFailureTest, ShmCreatorKilledBeforeItUnlinkedLeavesNoSegment) {
  // Rank 0 creates the segment, then waits for rank 1 to map it; it is
  // killed there, before it could unlink it.
  const std::string job = job_;
  const std::string path = dir_ + "/store";
  Child creator([&] {
    FileStore s(path, FileStoreOptions{.timeout = 20s, .job_id = "setup-test"});
    make_shm_context(s, "grp", 0, 2, shm_options(job));
  });
  auto s = store();
  const std::string published = "grp/shm/segment";
  s->wait(std::span<const std::string>(&published, 1), 10s);
  std::this_thread::sleep_for(50ms);
  ::kill(creator.pid(), SIGKILL);
  ASSERT_EQ(segments_left(), 1) << "the creator's segment should exist before rank 1 runs";
  Clock::duration took{};
  const std::string what = connection_error(
      [&] {
        make_shm_context(*s, "grp", 1, 2, shm_options(job_, {creator.pid(), 0}));
      },
      &took);
  EXPECT_THAT(what, HasSubstr("rank 0 (pid " + std::to_string(creator.pid()) + ") exited"));
  EXPECT_LT(took, 2s) << what;
  EXPECT_EQ(segments_left(), 0) << "the dead creator's segment was left in /dev/shm";
}

TEST_F(SetupFailureTest, TcpPeerThatExitsBeforeConnectingIsNamed) {
  Child peer([] { std::this_thread::sleep_for(300ms); });
  auto s = store();
  Clock::duration took{};
  const std::string what = connection_error(
      [&] {
        make_tcp_context(*s, "grp", 0, 2, tcp_options(job_, {0, peer.pid()}));
      },
      &took);
  EXPECT_THAT(what,
              HasSubstr("rank 1 (pid " + std::to_string(peer.pid()) + ") exited during tcp setup"));
  EXPECT_LT(took, 2s) << what;
}

// A peer on another host (pid unknown) that published its address and then
// died: its address refuses connections, which names it after a second.
TEST_F(SetupFailureTest, TcpPublishedAddressThatRefusesIsAnExitedPeer) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);  // nothing listens there now
  const std::string address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto s = store();
  s->set("grp/tcp/token", std::string_view("00000000deadbeef"));
  s->set("grp/tcp/0", std::string_view(address));
  Clock::duration took{};
  const std::string what =
      connection_error([&] { make_tcp_context(*s, "grp", 1, 2, tcp_options(job_)); }, &took);
  EXPECT_THAT(what, HasSubstr("rank 0 published " + address + " but has refused connections"));
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 3s) << what;
}

}  // namespace
}  // namespace baton::transport
