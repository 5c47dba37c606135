// CompressedFile over zlib's gzFile, which passes plain files through.
#include "train/compressed_file.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <system_error>

#include "baton/error.hpp"

namespace baton::train {
namespace {

// zlib's largest compression ratio (deflate stores at most 258 bytes in a
// 2-bit code plus block overhead): no gzip stream decompresses to more than
// this many times its size.
constexpr uint64_t kMaxDeflateRatio = 1032;

gzFile as_gz(void* p) {
  return static_cast<gzFile>(p);
}

}  // namespace

CompressedFile::CompressedFile(const std::filesystem::path& path) : path_(path.string()) {
  std::error_code ec;
  const bool regular = std::filesystem::is_regular_file(path, ec);
  if (!regular) {
    throw IoError("cannot open '" + path_ + "': " +
                  (std::filesystem::exists(path, ec) ? "not a regular file" : "no such file"));
  }
  file_bytes_ = std::filesystem::file_size(path, ec);
  if (ec) throw IoError("cannot stat '" + path_ + "': " + ec.message());
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw IoError("cannot open '" + path_ + "': " + std::strerror(errno));
    unsigned char magic[2] = {0, 0};
    probe.read(reinterpret_cast<char*>(magic), 2);
    gzipped_ = probe.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  }
  errno = 0;
  gz_ = gzopen(path_.c_str(), "rb");
  if (gz_ == nullptr) {
    throw IoError("cannot open '" + path_ +
                  "': " + (errno ? std::strerror(errno) : "out of memory"));
  }
}

CompressedFile::~CompressedFile() {
  if (gz_ != nullptr) gzclose_r(as_gz(gz_));
}

uint64_t CompressedFile::max_content_bytes() const {
  if (!gzipped_) return file_bytes_;
  if (file_bytes_ > std::numeric_limits<uint64_t>::max() / kMaxDeflateRatio) {
    return std::numeric_limits<uint64_t>::max();
  }
  return file_bytes_ * kMaxDeflateRatio;
}

size_t CompressedFile::read(std::span<std::byte> out) {
  size_t done = 0;
  while (done < out.size()) {
    const size_t want = std::min<size_t>(out.size() - done, size_t{1} << 30);
    const int got = gzread(as_gz(gz_), out.data() + done, static_cast<unsigned>(want));
    if (got < 0) {
      int code = 0;
      const char* what = gzerror(as_gz(gz_), &code);
      if (code == Z_ERRNO) throw IoError("cannot read '" + path_ + "': " + std::strerror(errno));
      throw ProtocolError("'" + path_ + "': corrupt gzip data (zlib: " + what + ")");
    }
    if (got == 0) {
      int code = 0;
      const char* what = gzerror(as_gz(gz_), &code);
      if (code != Z_OK) {
        throw ProtocolError("'" + path_ + "': gzip stream ends early (zlib: " + what + ")");
      }
      break;
    }
    done += static_cast<size_t>(got);
  }
  return done;
}

bool CompressedFile::at_end() {
  std::byte extra[1];
  return read(extra) == 0;
}

}  // namespace baton::train
