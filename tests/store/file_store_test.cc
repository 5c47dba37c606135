// FileStore beyond the conformance suite: job ids, bad paths, clean-up,
// permissions, and recovery from a writer that died mid-record.
#include "baton/file_store.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "baton/error.hpp"
#include "tests/store/store_test_util.hpp"

namespace baton::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

FileStoreOptions job(std::string id) {
  return FileStoreOptions{.timeout = seconds(30), .job_id = std::move(id)};
}

bool exists(const std::string& path) {
  return std::filesystem::exists(path);
}

TEST(FileStore, ANewFileIsReadableAndWritableByItsOwnerOnly) {
  TempDir dir;
  const std::string path = dir.file("store");
  const mode_t old_mask = ::umask(0);  // so the mode is the store's choice, not the umask's
  {
    FileStore store(path, job("private"));
    store.set("k", std::string_view("v"));
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    ::umask(old_mask);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "mode " << std::oct << (st.st_mode & 0777);
  }
  ::umask(old_mask);
}

TEST(FileStore, AFileFromAnotherJobIsReportedNamingThePathAndBothJobs) {
  TempDir dir;
  const std::string path = dir.file("store");
  FileStore earlier(path, job("job-41"));
  earlier.set("k", std::string_view("old"));
  try {
    FileStore later(path, job("job-42"));
    FAIL() << "a file of job-41 was reused by job-42";
  } catch (const InvalidArgument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("job-41"), std::string::npos) << what;
    EXPECT_NE(what.find("job-42"), std::string::npos) << what;
  }
  // The refused open changed nothing.
  EXPECT_EQ(earlier.get_string("k"), "old");
}

TEST(FileStore, AFileLeftByACrashedJobIsReportedNotReused) {
  TempDir dir;
  const std::string path = dir.file("store");
  // A process of job "crashed" opens the store and dies without closing it.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    FileStore store(path, job("crashed"));
    store.set("stale", std::string_view("x"));
    ::_exit(0);  // no destructor: the file stays, with a user count of 1
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_TRUE(exists(path));
  Stopwatch watch;
  EXPECT_THROW(FileStore(path, job("next-run")), InvalidArgument);
  EXPECT_LT(watch.elapsed().count(), 1000);
}

TEST(FileStore, APathInAMissingDirectoryNamesTheDirectory) {
  TempDir dir;
  const std::string missing = dir.file("no/such/dir");
  try {
    FileStore store(missing + "/store", job("j"));
    FAIL() << "opened a store in a missing directory";
  } catch (const IoError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("directory '" + missing + "' does not exist"), std::string::npos) << what;
  }
}

TEST(FileStore, AFileThatIsNotAStoreIsRefusedAndLeftUntouched) {
  TempDir dir;
  const std::string path = dir.file("notes.txt");
  {
    std::ofstream out(path);
    out << "precious user data\n";
  }
  try {
    FileStore store(path, job("j"));
    FAIL() << "used a file that is not a FileStore";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("not a baton FileStore file"), std::string::npos)
        << e.what();
  }
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "precious user data");
}

TEST(FileStore, TheLastUserRemovesTheFile) {
  TempDir dir;
  const std::string path = dir.file("store");
  auto a = std::make_unique<FileStore>(path, job("j"));
  auto b = std::make_unique<FileStore>(path, job("j"));
  a->set("k", std::string_view("v"));
  a.reset();
  EXPECT_TRUE(exists(path));
  EXPECT_EQ(b->get_string("k"), "v");
  b.reset();
  EXPECT_FALSE(exists(path));
  // The next job on the same path starts empty.
  FileStore next(path, job("j2"));
  EXPECT_EQ(next.num_keys(), 0);
}

TEST(FileStore, TheJobIdDefaultsToBatonJobId) {
  TempDir dir;
  ::setenv("BATON_JOB_ID", "from-env", 1);
  FileStore store(dir.file("store"),
                  FileStoreOptions{.timeout = seconds(30), .job_id = std::nullopt});
  ::unsetenv("BATON_JOB_ID");
  EXPECT_EQ(store.job_id(), "from-env");
  EXPECT_THROW(FileStore(dir.file("store"), job("other")), InvalidArgument);
}

TEST(FileStore, ATornRecordLeftByADeadWriterIsDropped) {
  TempDir dir;
  const std::string path = dir.file("store");
  FileStore keeper(path, job("j"));
  keeper.set("a", std::string_view("1"));
  {
    // Half a record: a set of key "bb" (2 bytes) with a 10-byte value, cut off.
    const uint8_t torn[] = {1, 2, 0, 0, 0, 10, 0, 0, 0, 'b', 'b', 'x'};
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, torn, sizeof(torn)), static_cast<ssize_t>(sizeof(torn)));
    ::close(fd);
  }
  FileStore writer(path, job("j"));
  writer.set("c", std::string_view("3"));
  FileStore reader(path, job("j"));
  EXPECT_EQ(reader.get_string("a"), "1");
  EXPECT_EQ(reader.get_string("c"), "3");
  EXPECT_EQ(reader.num_keys(), 2);
  EXPECT_EQ(keeper.get_string("c"), "3");
}

TEST(FileStore, ALockHeldByAStoppedProcessTimesOutNamingTheFile) {
  TempDir dir;
  const std::string path = dir.file("store");
  FileStore store(path, FileStoreOptions{.timeout = milliseconds(200), .job_id = "j"});
  // Hold the whole-file lock from another open file description.
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  ASSERT_EQ(::fcntl(fd, F_OFD_SETLK, &lock), 0);
  Stopwatch watch;
  try {
    store.set("k", std::string_view("v"));
    FAIL() << "set went through a held lock";
  } catch (const TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_GE(watch.elapsed().count(), 200);
  EXPECT_LE(watch.elapsed().count(), 500);
  ::close(fd);  // releases the lock
  store.set("k", std::string_view("v"));
  EXPECT_EQ(store.get_string("k"), "v");
}

TEST(FileStore, AnEmptyPathIsInvalidArgument) {
  EXPECT_THROW(FileStore("", job("j")), InvalidArgument);
}

}  // namespace
}  // namespace baton::testing
