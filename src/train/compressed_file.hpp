// CompressedFile: reads a file that may be gzip'd, as its plain bytes.
//
// The format is told by the first two bytes (gzip's 1f 8b), never by the
// name. Reads return the decompressed bytes; errors name the path.
//
// Thread safety: one object per thread; different objects are independent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace baton::train {

class CompressedFile {
 public:
  // Opens for reading. Errors: IoError naming the path and the OS's reason.
  explicit CompressedFile(const std::filesystem::path& path);
  ~CompressedFile();
  CompressedFile(const CompressedFile&) = delete;
  CompressedFile& operator=(const CompressedFile&) = delete;

  bool gzipped() const { return gzipped_; }
  // The size on disk (compressed size when gzipped).
  uint64_t file_bytes() const { return file_bytes_; }
  // The most bytes the file can decompress to (file_bytes() when plain).
  uint64_t max_content_bytes() const;

  // Reads up to out.size() bytes; fewer only at the end of the data. Blocks
  // on disk I/O. Errors: ProtocolError naming the path for a corrupt or
  // truncated gzip stream; IoError for a failed read.
  size_t read(std::span<std::byte> out);
  // Whether any byte is left (reads one byte ahead, so call it last).
  bool at_end();

 private:
  std::string path_;
  void* gz_ = nullptr;  // gzFile
  bool gzipped_ = false;
  uint64_t file_bytes_ = 0;
};

}  // namespace baton::train
