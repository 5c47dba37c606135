// The launch layer's pieces: line prefixing, exit statuses, job layout.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth/secret.hpp"
#include "baton/error.hpp"
#include "core/socket.hpp"
#include "launch/exit_status.hpp"
#include "launch/job_env.hpp"
#include "launch/job_secret.hpp"
#include "launch/line_prefixer.hpp"
#include "tests/support/error_text.hpp"
#include "tests/support/scoped_env.hpp"

namespace baton::launch {
namespace {

std::string feed_all(LinePrefixer& p, std::initializer_list<std::string_view> chunks) {
  std::string out;
  for (std::string_view c : chunks) p.feed(c, out);
  return out;
}

TEST(LinePrefixer, PrefixesWholeLinesOnly) {
  LinePrefixer p("[3] ");
  EXPECT_EQ(feed_all(p, {"hel"}), "");
  EXPECT_TRUE(p.has_partial());
  EXPECT_EQ(feed_all(p, {"lo\nwor"}), "[3] hello\n");
  EXPECT_EQ(feed_all(p, {"ld\n\nlast"}), "[3] world\n[3] \n");
  std::string out;
  p.finish(out);
  EXPECT_EQ(out, "[3] last\n");
  EXPECT_FALSE(p.has_partial());
  out.clear();
  p.finish(out);
  EXPECT_EQ(out, "") << "finish with nothing pending adds nothing";
}

TEST(LinePrefixer, SplitsLinesLongerThanTheLimit) {
  LinePrefixer p("> ", 4);
  EXPECT_EQ(feed_all(p, {"abcdefghij\n"}), "> abcd\n> efgh\n> ij\n");
  EXPECT_EQ(feed_all(p, {"ab", "cd", "e\n"}), "> abcd\n> e\n");
  EXPECT_EQ(feed_all(p, {"abcd\n"}), "> abcd\n") << "a line of exactly the limit stays whole";
}

TEST(ExitStatus, DescribesExitsAndSignals) {
  const ExitStatus exited = ExitStatus::from_wait_status(W_EXITCODE(3, 0));
  EXPECT_FALSE(exited.success());
  EXPECT_EQ(exited.shell_code(), 3);
  EXPECT_EQ(exited.describe(), "exited with code 3");
  EXPECT_TRUE(ExitStatus::from_wait_status(W_EXITCODE(0, 0)).success());

  const ExitStatus killed = ExitStatus::from_wait_status(W_EXITCODE(0, SIGSEGV));
  EXPECT_TRUE(killed.signaled);
  EXPECT_EQ(killed.shell_code(), 128 + SIGSEGV);
  EXPECT_EQ(killed.describe(), "was killed by SIGSEGV (Segmentation fault)");
  EXPECT_EQ(ExitStatus::from_wait_status(W_EXITCODE(0, SIGABRT) | WCOREFLAG).describe(),
            "was killed by SIGABRT (Aborted, core dumped)");
  EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_EQ(signal_name(200), "signal 200");
}

TEST(JobLayout, EnvironmentOfARankOnTheSecondNode) {
  JobLayout layout{.nnodes = 2,
                   .node_rank = 1,
                   .nproc_per_node = 3,
                   .master_addr = "10.0.0.1",
                   .master_port = 1234,
                   .job_id = "abc",
                   .secret_file = "/etc/job.secret"};
  validate(layout);
  const EnvList env = rank_environment(layout, 2);
  const EnvList expected = {{"RANK", "5"},
                            {"LOCAL_RANK", "2"},
                            {"WORLD_SIZE", "6"},
                            {"LOCAL_WORLD_SIZE", "3"},
                            {"GROUP_RANK", "1"},
                            {"GROUP_WORLD_SIZE", "2"},
                            {"ROLE_NAME", "default"},
                            {"ROLE_RANK", "5"},
                            {"ROLE_WORLD_SIZE", "6"},
                            {"MASTER_ADDR", "10.0.0.1"},
                            {"MASTER_PORT", "1234"},
                            {"BATON_STORE_ADDR", "10.0.0.1"},
                            {"BATON_STORE_PORT", "1234"},
                            {"BATON_JOB_ID", "abc"},
                            {"BATON_SECRET", ""},
                            {"BATON_SECRET_FILE", "/etc/job.secret"},
                            {"BATON_AGENT_STORE", "0"},
                            {"TORCHELASTIC_RUN_ID", "abc"},
                            {"TORCHELASTIC_USE_AGENT_STORE", "False"},
                            {"TORCHELASTIC_RESTART_COUNT", "0"},
                            {"TORCHELASTIC_MAX_RESTARTS", "0"},
                            {"BATON_RESTART_COUNT", "0"}};
  EXPECT_EQ(env, expected);
}

TEST(JobLayout, EnvironmentOfARestartedAttempt) {
  const JobLayout layout{.master_port = 4000,
                         .job_id = "abc",
                         .store_addr = "127.0.0.1",
                         .store_port = 4001,
                         .agent_store = true,
                         .restart_count = 2,
                         .max_restarts = 3};
  validate(layout);
  const EnvList env = rank_environment(layout, 0);
  auto value = [&](const std::string& name) {
    for (const auto& [k, v] : env) {
      if (k == name) return v;
    }
    return std::string("<unset>");
  };
  EXPECT_EQ(value("TORCHELASTIC_RESTART_COUNT"), "2");
  EXPECT_EQ(value("BATON_RESTART_COUNT"), "2");
  EXPECT_EQ(value("TORCHELASTIC_MAX_RESTARTS"), "3");
  EXPECT_EQ(value("BATON_AGENT_STORE"), "1");
  // The launcher's store has its own port; MASTER_PORT is left to a torch rank 0.
  EXPECT_EQ(value("BATON_STORE_ADDR"), "127.0.0.1");
  EXPECT_EQ(value("BATON_STORE_PORT"), "4001");
  EXPECT_EQ(value("MASTER_PORT"), "4000");
  EXPECT_EQ(value("TORCHELASTIC_USE_AGENT_STORE"), "False") << "torch's protocol is not Baton's";
}

TEST(JobLayout, ValidateNamesTheBadField) {
  auto message = [](const JobLayout& layout) {
    try {
      validate(layout);
    } catch (const InvalidArgument& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  const JobLayout good{.job_id = "x"};
  EXPECT_EQ(message(good), "<no error>");
  EXPECT_NE(message({.nproc_per_node = 0, .job_id = "x"})
                .find("nproc_per_node must be at least 1, got 0"),
            std::string::npos);
  EXPECT_NE(
      message({.nnodes = 2, .node_rank = 2, .job_id = "x"}).find("node_rank must be in [0, 1]"),
      std::string::npos);
  EXPECT_NE(message({.master_port = 0, .job_id = "x"}).find("master_port"), std::string::npos);
  EXPECT_NE(message({.job_id = "x", .store_port = 65536}).find("store_port must be in [0, 65535]"),
            std::string::npos);
  EXPECT_NO_THROW(validate({})) << "no job id: the rendezvous makes one up";
  EXPECT_NE(message({.job_id = "x", .restart_count = 2, .max_restarts = 1})
                .find("restart_count must be in [0, 1], got 2"),
            std::string::npos);
  EXPECT_NE(message({.job_id = "x", .max_restarts = -1}).find("max_restarts must be at least 0"),
            std::string::npos);
}

TEST(JobLayout, WithoutAJobIdTorchSeesNone) {
  const EnvList env = rank_environment(JobLayout{.nnodes = 2, .master_port = 4000}, 0);
  for (const auto& [k, v] : env) {
    if (k == "BATON_JOB_ID") EXPECT_EQ(v, "");
    if (k == "TORCHELASTIC_RUN_ID") EXPECT_EQ(v, "none") << "torchrun's default";
  }
}

TEST(JobSecret, GeneratedFromTheEnvironmentOrAFile) {
  testing::ScopedEnv env;
  env.unset("BATON_SECRET");
  env.unset("BATON_SECRET_FILE");
  EXPECT_TRUE(choose_job_secret("", /*generate=*/false).empty()) << "several nodes, nothing set";
  if (!auth::supported()) GTEST_SKIP() << "built without libcrypto (BATON_WITH_OPENSSL)";
  const JobSecret a = choose_job_secret("", true);
  const JobSecret b = choose_job_secret("", true);
  EXPECT_EQ(a.text.size(), 64u);
  EXPECT_NE(a.text, b.text) << "one secret per job";
  EXPECT_EQ(a.source, "generated");
  env.set("BATON_SECRET", "short");
  EXPECT_THROW(choose_job_secret("", true), AuthenticationError) << "never a silent fallback";
  env.set("BATON_SECRET", "inherited-from-the-shell-0123");
  EXPECT_EQ(choose_job_secret("", true).text, "inherited-from-the-shell-0123");
  char name[] = "/tmp/baton-job-secret-XXXXXX";
  const int fd = ::mkstemp(name);
  ASSERT_EQ(::write(fd, "from-a-file-0123456789\n", 23), 23);
  ::fchmod(fd, 0644);
  ::close(fd);
  const std::string msg =
      testing::message_of<AuthenticationError>([&] { choose_job_secret(name, true); });
  EXPECT_NE(msg.find("chmod 600"), std::string::npos) << msg;
  ::chmod(name, 0600);
  const JobSecret by_file = choose_job_secret(name, true);
  EXPECT_EQ(by_file.file, name);
  EXPECT_TRUE(by_file.text.empty())
      << "the ranks read the file; the text is not in their environment";
  EXPECT_EQ(by_file.resolve_text(), "from-a-file-0123456789");
  ::unlink(name);
}

TEST(JobLayout, FreePortCanBeBound) {
  const int port = find_free_port("127.0.0.1");
  EXPECT_GT(port, 0);
  EXPECT_LE(port, 65535);
  EXPECT_NO_THROW(net::listen_tcp("127.0.0.1", static_cast<uint16_t>(port)));
  EXPECT_THROW(find_free_port("192.0.2.1"), ConnectionError) << "not an address of this host";
}

}  // namespace
}  // namespace baton::launch
