// Fuzzes the IDX reader (include/baton/train/idx.hpp): the MNIST family's
// file format, plain or gzip'd, as read_idx() reads a dataset file that may
// have been downloaded from anywhere.
//
// Input: the file's bytes (written to a memfd that read_idx opens through
// /proc/self/fd). A plain file that loads must encode back (header, then the
// elements big-endian at their on-disk width) to the same bytes; a gzip'd
// one must load no more elements than its size allows.
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cstring>

#include "baton/train/idx.hpp"
#include "fuzz_support.hpp"

namespace {

namespace bt = baton::train;

// One memfd for the whole run; each input replaces its contents.
class MemFile {
 public:
  MemFile() : fd_(memfd_create("baton-fuzz-idx", 0)) {
    if (fd_ < 0) baton::fuzz::fail(__FILE__, __LINE__, "memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  const std::string& write(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) baton::fuzz::fail(__FILE__, __LINE__, "ftruncate failed");
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) baton::fuzz::fail(__FILE__, __LINE__, "pwrite failed");
      done += static_cast<size_t>(n);
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

struct Code {
  uint8_t code;
  size_t width;
};

Code disk_code(uint8_t magic_type) {
  switch (magic_type) {
    case 0x08:
    case 0x09: return {magic_type, 1};
    case 0x0B: return {magic_type, 2};
    case 0x0C:
    case 0x0D: return {magic_type, 4};
    case 0x0E: return {magic_type, 8};
  }
  baton::fuzz::fail(__FILE__, __LINE__,
                    "read_idx accepted type code " + std::to_string(magic_type));
}

// The IDX bytes of a loaded array, at the file's type code.
std::vector<uint8_t> encode(const bt::IdxArray& a, uint8_t type) {
  const Code c = disk_code(type);
  std::vector<uint8_t> out = {0, 0, type, static_cast<uint8_t>(a.shape.size())};
  for (const int64_t d : a.shape) {
    BATON_FUZZ_CHECK(d >= 0 && d <= 0xffffffffLL, "dimension " + std::to_string(d));
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(d >> s));
  }
  const auto n = static_cast<size_t>(a.data.numel());
  const auto* p = static_cast<const uint8_t*>(a.data.data_ptr());
  for (size_t i = 0; i < n; ++i) {
    uint8_t e[8] = {};
    if (type == 0x0B) {
      int32_t v;
      std::memcpy(&v, p + i * 4, 4);
      BATON_FUZZ_CHECK(v >= -32768 && v <= 32767, "int16 element " + std::to_string(v));
      const auto u = static_cast<uint16_t>(static_cast<int16_t>(v));
      e[0] = static_cast<uint8_t>(u);
      e[1] = static_cast<uint8_t>(u >> 8);
    } else {
      std::memcpy(e, p + i * c.width, c.width);
    }
    // Memory is little-endian here (x86, arm64); the file is big-endian.
    for (size_t b = c.width; b-- > 0;) out.push_back(e[b]);
  }
  return out;
}

void load(const std::string& path, std::span<const uint8_t> file) {
  const bt::IdxArray a = bt::read_idx(path);
  int64_t numel = 1;
  for (const int64_t d : a.shape) numel *= d;
  BATON_FUZZ_CHECK(a.data.numel() == numel, "tensor elements differ from the shape");
  BATON_FUZZ_CHECK(a.data.dtype() == a.dtype, "dtype");
  const bool gzipped = file.size() >= 2 && file[0] == 0x1f && file[1] == 0x8b;
  if (gzipped) {
    BATON_FUZZ_CHECK(static_cast<uint64_t>(numel) <= uint64_t{1032} * file.size(),
                     "more elements than the gzip'd file can hold");
    return;
  }
  const std::vector<uint8_t> again = encode(a, file[2]);
  BATON_FUZZ_CHECK(
      again.size() == file.size() && std::equal(again.begin(), again.end(), file.begin()),
      "loaded file of " + std::to_string(file.size()) + " bytes encodes as " +
          std::to_string(again.size()) + " bytes that differ");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static_assert(std::endian::native == std::endian::little,
                "encode() assumes little-endian memory");
  static MemFile file;
  const std::string& path = file.write(data, size);
  baton::fuzz::graceful([&] { load(path, std::span(data, size)); });
  return 0;
}
