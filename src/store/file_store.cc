// FileStore: a KvMap replayed from an append-only log file under fcntl locks.
// See include/baton/file_store.hpp for the model and file_log.hpp for the
// bytes.
#include "baton/file_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <thread>

#include "baton/error.hpp"
#include "core/config.hpp"
#include "core/describe.hpp"
#include "core/fd.hpp"
#include "core/log.hpp"
#include "core/socket.hpp"
#include "store/file_log.hpp"
#include "store/kv_map.hpp"
#include "store/store_common.hpp"

namespace baton {

namespace {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
namespace fl = store::file_log;

constexpr auto kFirstPoll = std::chrono::milliseconds(1);
constexpr auto kMaxPoll = std::chrono::milliseconds(20);
constexpr auto kFirstLockRetry = std::chrono::microseconds(20);
constexpr auto kMaxLockRetry = std::chrono::milliseconds(2);

// Holds an open-file-description lock on the whole file. OFD locks (unlike
// classic POSIX record locks) belong to the open file, so two FileStores in
// one process exclude each other and closing another fd never drops them.
class FileLock {
 public:
  FileLock(int fd, short type, Deadline deadline, const std::string& where,
           std::chrono::milliseconds timeout)
      : fd_(fd) {
    auto backoff = std::chrono::duration_cast<Clock::duration>(kFirstLockRetry);
    for (;;) {
      struct flock lock {};
      lock.l_type = type;
      lock.l_whence = SEEK_SET;
      if (::fcntl(fd_, F_OFD_SETLK, &lock) == 0) return;
      if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
        throw IoError(where + ": cannot lock the file: " + net::error_text(errno));
      }
      const auto now = Clock::now();
      if (now >= deadline) {
        throw TimeoutError(where + ": could not lock the file within " +
                           describe_duration(timeout) + " (is a process that holds it stopped?)");
      }
      std::this_thread::sleep_for(std::min<Clock::duration>(backoff, deadline - now));
      backoff = std::min<Clock::duration>(backoff * 2, kMaxLockRetry);
    }
  }
  ~FileLock() {
    struct flock lock {};
    lock.l_type = F_UNLCK;
    lock.l_whence = SEEK_SET;
    ::fcntl(fd_, F_OFD_SETLK, &lock);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

std::string parent_directory(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string describe_job(const std::string& job_id) {
  return job_id.empty() ? "'' (no job id)" : store::quote_key(job_id);
}

}  // namespace

class FileStore::Impl {
 public:
  Impl(std::string path, std::string job_id, std::chrono::milliseconds timeout)
      : path_(std::move(path)), job_id_(std::move(job_id)), where_("FileStore '" + path_ + "'") {
    if (path_.empty()) throw InvalidArgument("FileStore: empty path, expected a file path");
    if (job_id_.size() > fl::kMaxJobIdBytes) {
      throw InvalidArgument("FileStore: job id of " + std::to_string(job_id_.size()) +
                            " bytes, at most " + std::to_string(fl::kMaxJobIdBytes) + " allowed");
    }
    open(timeout);
  }

  ~Impl() {
    try {
      release();
    } catch (const std::exception& e) {
      BATON_LOG_WARN(log::Subsys::kStore) << where_ << ": could not release the file: " << e.what();
    }
  }

  const std::string& path() const { return path_; }
  const std::string& job_id() const { return job_id_; }
  const std::string& where() const { return where_; }

  // Runs fn(map) under the exclusive file lock with the map up to date, then
  // appends the records fn wrote to `log`.
  template <class Fn>
  auto modify(std::chrono::milliseconds timeout, Fn&& fn) {
    std::lock_guard guard(mutex_);
    FileLock lock(fd_.get(), F_WRLCK, Clock::now() + timeout, where_, timeout);
    refresh_locked(/*exclusive=*/true);
    std::vector<uint8_t> log;
    auto result = fn(map_, log);
    if (!log.empty()) {
      write_all(log, pos_);
      pos_ += log.size();
      remember_file_state();
    }
    return result;
  }

  // Runs fn(map) with the map up to date (shared lock only when the file
  // changed since the last look).
  template <class Fn>
  auto read(std::chrono::milliseconds timeout, Fn&& fn) {
    std::lock_guard guard(mutex_);
    if (file_changed()) {
      FileLock lock(fd_.get(), F_RDLCK, Clock::now() + timeout, where_, timeout);
      refresh_locked(/*exclusive=*/false);
    }
    return fn(static_cast<const store::KvMap&>(map_));
  }

  // Polls with read() until ready(map) returns true or the deadline passes;
  // returns whether it became ready.
  template <class Ready>
  bool poll(Deadline deadline, std::chrono::milliseconds timeout, Ready&& ready) {
    auto pause = std::chrono::duration_cast<Clock::duration>(kFirstPoll);
    for (;;) {
      if (read(timeout, ready)) return true;
      const auto now = Clock::now();
      if (now >= deadline) return false;
      std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - now));
      pause = std::min<Clock::duration>(pause * 2, kMaxPoll);
    }
  }

 private:
  void open(std::chrono::milliseconds timeout) {
    const Deadline deadline = Clock::now() + timeout;
    for (;;) {
      UniqueFd fd(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
      if (!fd) throw_open_error(errno);
      FileLock lock(fd.get(), F_WRLCK, deadline, where_, timeout);
      struct stat by_fd {};
      struct stat by_path {};
      if (::fstat(fd.get(), &by_fd) != 0)
        throw IoError(where_ + ": fstat failed: " + net::error_text(errno));
      if (!S_ISREG(by_fd.st_mode)) throw InvalidArgument(where_ + ": not a regular file");
      // The last user of an older file may have unlinked it between our
      // open() and our lock: then open the path again.
      if (::stat(path_.c_str(), &by_path) != 0 || by_path.st_ino != by_fd.st_ino ||
          by_path.st_dev != by_fd.st_dev) {
        continue;
      }
      fd_ = std::move(fd);
      if (by_fd.st_size == 0) {
        write_all(fl::encode_header({.version = fl::kFormatVersion, .users = 1, .job_id = job_id_}),
                  0);
      } else {
        fl::Header header = read_header(static_cast<uint64_t>(by_fd.st_size));
        write_all(fl::encode_u32(header.users + 1), fl::kUsersOffset);
      }
      pos_ = fl::kHeaderBytes;
      refresh_locked(/*exclusive=*/true);
      BATON_LOG_DEBUG(log::Subsys::kStore)
          << where_ << ": opened for job " << describe_job(job_id_);
      return;
    }
  }

  [[noreturn]] void throw_open_error(int error) const {
    const std::string dir = parent_directory(path_);
    struct stat st {};
    if (error == ENOENT && ::stat(dir.c_str(), &st) != 0) {
      throw IoError("FileStore: cannot create '" + path_ + "': directory '" + dir +
                    "' does not exist");
    }
    if (error == ENOTDIR || (error == ENOENT && !S_ISDIR(st.st_mode))) {
      throw IoError("FileStore: cannot create '" + path_ + "': '" + dir + "' is not a directory");
    }
    throw IoError("FileStore: cannot open '" + path_ + "': " + net::error_text(error));
  }

  fl::Header read_header(uint64_t size) {
    std::vector<uint8_t> bytes(std::min<uint64_t>(size, fl::kHeaderBytes));
    read_all(bytes, 0);
    fl::DecodedHeader decoded = fl::decode_header(bytes);
    if (!decoded.header) {
      throw InvalidArgument(where_ +
                            " is not a baton FileStore file of this version: " + decoded.error +
                            "; refusing to use it (delete it or choose another path)");
    }
    if (decoded.header->job_id != job_id_) {
      throw InvalidArgument(
          where_ + " was created by job " + describe_job(decoded.header->job_id) +
          ", but this is job " + describe_job(job_id_) +
          ": the file is left over from an earlier job (or used by another one); delete it or "
          "choose another path");
    }
    return *decoded.header;
  }

  // Decrements the user count; the last user unlinks the file.
  void release() {
    if (!fd_) return;
    std::lock_guard guard(mutex_);
    const auto timeout = std::chrono::milliseconds(std::chrono::seconds(30));
    FileLock lock(fd_.get(), F_WRLCK, Clock::now() + timeout, where_, timeout);
    std::vector<uint8_t> users_bytes(4);
    read_all(users_bytes, fl::kUsersOffset);
    uint32_t users = 0;
    for (size_t i = 0; i < 4; ++i) users |= static_cast<uint32_t>(users_bytes[i]) << (8 * i);
    users = users > 0 ? users - 1 : 0;
    write_all(fl::encode_u32(users), fl::kUsersOffset);
    if (users == 0) {
      struct stat by_fd {};
      struct stat by_path {};
      if (::fstat(fd_.get(), &by_fd) == 0 && ::stat(path_.c_str(), &by_path) == 0 &&
          by_fd.st_ino == by_path.st_ino && by_fd.st_dev == by_path.st_dev) {
        ::unlink(path_.c_str());
        BATON_LOG_DEBUG(log::Subsys::kStore) << where_ << ": last user closed it; file removed";
      }
    }
  }

  bool file_changed() {
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0)
      throw IoError(where_ + ": fstat failed: " + net::error_text(errno));
    return st.st_size != seen_size_ || st.st_mtim.tv_sec != seen_mtime_.tv_sec ||
           st.st_mtim.tv_nsec != seen_mtime_.tv_nsec;
  }

  void remember_file_state() {
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0)
      throw IoError(where_ + ": fstat failed: " + net::error_text(errno));
    seen_size_ = st.st_size;
    seen_mtime_ = st.st_mtim;
  }

  // Replays the records appended since pos_. Holding the exclusive lock, it
  // also cuts off a torn record left by a writer that died mid-write.
  void refresh_locked(bool exclusive) {
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0)
      throw IoError(where_ + ": fstat failed: " + net::error_text(errno));
    const auto size = static_cast<uint64_t>(st.st_size);
    if (size < pos_) {
      throw IoError(where_ + " shrank to " + std::to_string(size) + " bytes below the " +
                    std::to_string(pos_) +
                    " already read: another program truncated or replaced it");
    }
    if (size > pos_) {
      std::vector<uint8_t> data(size - pos_);
      read_all(data, pos_);
      const size_t used = fl::apply_records(data, map_, where_, pos_);
      pos_ += used;
      if (used < data.size() && exclusive) {
        BATON_LOG_WARN(log::Subsys::kStore)
            << where_ << ": dropping a torn record of " << data.size() - used << " bytes at offset "
            << pos_ << " (its writer died mid-write)";
        if (::ftruncate(fd_.get(), static_cast<off_t>(pos_)) != 0) {
          throw IoError(where_ + ": ftruncate failed: " + net::error_text(errno));
        }
      }
    }
    remember_file_state();
  }

  void read_all(std::span<uint8_t> out, uint64_t offset) {
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done,
                                static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw IoError(where_ + ": read failed: " + net::error_text(errno));
      if (n == 0)
        throw IoError(where_ + ": unexpected end of file at offset " +
                      std::to_string(offset + done));
      done += static_cast<size_t>(n);
    }
  }

  void write_all(std::span<const uint8_t> data, uint64_t offset) {
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::pwrite(fd_.get(), data.data() + done, data.size() - done,
                                 static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw IoError(where_ + ": write failed: " + net::error_text(errno));
      done += static_cast<size_t>(n);
    }
  }

  const std::string path_;
  const std::string job_id_;
  const std::string where_;
  std::mutex mutex_;  // serialises this object's threads; the file lock serialises processes
  UniqueFd fd_;
  store::KvMap map_;                 // GUARDED_BY(mutex_): the file's content up to pos_
  uint64_t pos_ = fl::kHeaderBytes;  // GUARDED_BY(mutex_)
  off_t seen_size_ = -1;             // GUARDED_BY(mutex_): file size at the last look
  struct timespec seen_mtime_ {};    // GUARDED_BY(mutex_)
};

FileStore::FileStore(std::string path, FileStoreOptions options) : Store(options.timeout) {
  std::string job_id = options.job_id ? *options.job_id : config::get_string("BATON_JOB_ID");
  impl_ = std::make_unique<Impl>(std::move(path), std::move(job_id), options.timeout);
}

FileStore::~FileStore() = default;

const std::string& FileStore::path() const {
  return impl_->path();
}
const std::string& FileStore::job_id() const {
  return impl_->job_id();
}

void FileStore::set(std::string_view key, std::span<const uint8_t> value) {
  store::check_key(key, "set");
  impl_->modify(timeout(), [&](store::KvMap& map, std::vector<uint8_t>& log) {
    fl::append_record(log, fl::RecordType::kSet, key, value);
    map.set(key, Bytes(value.begin(), value.end()));
    return 0;
  });
}

Store::Bytes FileStore::get(std::string_view key) {
  store::check_key(key, "get");
  const auto timeout = this->timeout();
  Bytes out;
  const bool found = impl_->poll(Clock::now() + timeout, timeout, [&](const store::KvMap& map) {
    const Bytes* value = map.find(key);
    if (value != nullptr) out = *value;
    return value != nullptr;
  });
  if (!found) {
    const std::string keys[] = {std::string(key)};
    throw TimeoutError(store::timeout_message(impl_->where(), "get", keys, timeout));
  }
  return out;
}

int64_t FileStore::add(std::string_view key, int64_t delta) {
  store::check_key(key, "add");
  return impl_->modify(timeout(), [&](store::KvMap& map, std::vector<uint8_t>& log) {
    const int64_t sum = map.add(key, delta);
    fl::append_record(log, fl::RecordType::kSet, key, *map.find(key));
    return sum;
  });
}

Store::Bytes FileStore::compare_set(std::string_view key, std::span<const uint8_t> expected,
                                    std::span<const uint8_t> desired) {
  store::check_key(key, "compare_set");
  return impl_->modify(timeout(), [&](store::KvMap& map, std::vector<uint8_t>& log) {
    const Bytes* before = map.find(key);
    const bool changes =
        before == nullptr ? expected.empty() : std::ranges::equal(*before, expected);
    Bytes result = *map.compare_set(key, expected, desired);
    if (changes) fl::append_record(log, fl::RecordType::kSet, key, desired);
    return result;
  });
}

bool FileStore::check(std::span<const std::string> keys) {
  store::check_keys(keys, "check");
  return impl_->read(timeout(), [&](const store::KvMap& map) {
    return std::ranges::all_of(keys, [&](const std::string& k) { return map.contains(k); });
  });
}

void FileStore::wait(std::span<const std::string> keys, std::chrono::milliseconds timeout) {
  store::check_keys(keys, "wait");
  std::vector<std::string> missing;
  const bool ready =
      impl_->poll(Clock::now() + timeout, this->timeout(), [&](const store::KvMap& map) {
        missing.clear();
        for (const std::string& k : keys) {
          if (!map.contains(k)) missing.push_back(k);
        }
        return missing.empty();
      });
  if (!ready) throw TimeoutError(store::timeout_message(impl_->where(), "wait", missing, timeout));
}

bool FileStore::delete_key(std::string_view key) {
  store::check_key(key, "delete_key");
  return impl_->modify(timeout(), [&](store::KvMap& map, std::vector<uint8_t>& log) {
    const bool existed = map.erase(key);
    if (existed) fl::append_record(log, fl::RecordType::kDelete, key);
    return existed;
  });
}

int64_t FileStore::num_keys() {
  return impl_->read(timeout(),
                     [](const store::KvMap& map) { return static_cast<int64_t>(map.size()); });
}

}  // namespace baton
