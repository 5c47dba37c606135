// FileStore: a Store in one file, shared by processes on one host or on a
// shared file system.
//
// The file is an append-only log of set/delete records behind a small header
// that names the job (docs/wire_protocol.md, "FileStore file format"). Every
// change takes an exclusive fcntl lock (open-file-description locks, so two
// FileStores of one process exclude each other too), appends one record and
// releases the lock; readers take a shared lock and replay only the records
// they have not seen. get() and wait() poll the file's size (1 ms backoff up to
// 20 ms) until the keys appear or the timeout passes.
//
// Job id: the header carries the job id of whoever created the file. Opening
// a file whose job id differs from this one's throws InvalidArgument naming
// the path and both ids, so a file left by an earlier job is never silently
// reused. The default job id is BATON_JOB_ID (set by baton-run and spawn);
// with no job id anywhere, files are shared by every opener, as in c10d.
//
// Clean-up: the header counts the FileStores open on the file. The
// constructor increments it, the destructor decrements it, and the one that
// brings it to zero unlinks the file. A process that dies without running
// the destructor leaves the file behind (with a count above zero); the next
// job recognises it by its job id.
//
// Permissions: a new file is created with mode 0600 (its owner only; the
// umask can only take bits away), so other users of a shared file system
// cannot read the rendezvous or write into it.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "baton/store.hpp"

namespace baton {

struct FileStoreOptions {
  std::chrono::milliseconds timeout = Store::kDefaultTimeout;
  // Written into a new file's header and compared with an existing one's;
  // nullopt reads BATON_JOB_ID ("" when unset).
  std::optional<std::string> job_id;
};

class FileStore final : public Store {
 public:
  // Opens or creates the store file at path. Blocks only to take the file
  // lock (up to options.timeout, then TimeoutError). Throws IoError naming the
  // directory when it does not exist, or naming the path and the OS error
  // when the file cannot be opened; InvalidArgument when the file is not a
  // FileStore file or belongs to another job (naming the path and both ids).
  explicit FileStore(std::string path, FileStoreOptions options = {});
  // Decrements the user count and unlinks the file when it reaches zero.
  // Never throws; failures are logged.
  ~FileStore() override;
  FileStore(const FileStore&) = delete;
  FileStore& operator=(const FileStore&) = delete;

  using Store::set;
  using Store::wait;

  // Every operation takes the file lock (waiting up to timeout(), then
  // TimeoutError) and throws IoError naming the path if the file fails or
  // is corrupt. get() and wait() block as described above.
  void set(std::string_view key, std::span<const uint8_t> value) override;
  Bytes get(std::string_view key) override;
  int64_t add(std::string_view key, int64_t delta) override;
  Bytes compare_set(std::string_view key, std::span<const uint8_t> expected,
                    std::span<const uint8_t> desired) override;
  bool check(std::span<const std::string> keys) override;
  void wait(std::span<const std::string> keys, std::chrono::milliseconds timeout) override;
  bool delete_key(std::string_view key) override;
  int64_t num_keys() override;

  const std::string& path() const;
  const std::string& job_id() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton
