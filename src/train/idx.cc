// read_idx: header checks first, then one read of the element data into an
// owning tensor, then the big-endian to host conversion.
#include "baton/train/idx.hpp"

#include <bit>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>

#include "baton/error.hpp"
#include "core/log.hpp"
#include "train/compressed_file.hpp"

namespace baton::train {
namespace {

constexpr auto kSubsys = log::Subsys::kTrain;

struct TypeCode {
  uint8_t code;
  size_t disk_bytes;  // bytes per element on disk
  DType dtype;        // what it loads as
  const char* name;
};

constexpr TypeCode kTypeCodes[] = {
    {0x08, 1, DType::UInt8, "unsigned byte"}, {0x09, 1, DType::Int8, "signed byte"},
    {0x0B, 2, DType::Int32, "int16"},         {0x0C, 4, DType::Int32, "int32"},
    {0x0D, 4, DType::Float32, "float"},       {0x0E, 8, DType::Float64, "double"},
};

std::string hex(unsigned value) {
  std::ostringstream out;
  out << "0x" << std::hex << (value < 16 ? "0" : "") << value;
  return out.str();
}

const TypeCode* find_type(uint8_t code) {
  for (const TypeCode& t : kTypeCodes) {
    if (t.code == code) return &t;
  }
  return nullptr;
}

uint32_t load_be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Reads exactly out.size() bytes or throws ProtocolError saying what was missing.
void read_exact(CompressedFile& file, std::span<std::byte> out, const std::string& path,
                const char* what) {
  const size_t got = file.read(out);
  if (got != out.size()) {
    throw ProtocolError("read_idx: '" + path + "' is truncated: expected " +
                        std::to_string(out.size()) + " bytes of " + what + ", found " +
                        std::to_string(got));
  }
}

// Reverses the bytes of each `width`-byte element in place.
void swap_elements(std::byte* data, size_t count, size_t width) {
  if (width == 1 || std::endian::native == std::endian::big) return;
  for (size_t i = 0; i < count; ++i) {
    std::byte* e = data + i * width;
    for (size_t a = 0, b = width - 1; a < b; ++a, --b) std::swap(e[a], e[b]);
  }
}

}  // namespace

IdxArray read_idx(const std::filesystem::path& path) {
  const std::string name = path.string();
  CompressedFile file(path);  // IoError when missing

  unsigned char magic[4] = {0, 0, 0, 0};
  const size_t got = file.read(std::as_writable_bytes(std::span(magic)));
  if (got < 4) {
    throw ProtocolError("read_idx: '" + name +
                        "' is truncated: expected a 4-byte IDX magic, found " +
                        std::to_string(got) + " bytes");
  }
  const TypeCode* type = find_type(magic[2]);
  if (magic[0] != 0 || magic[1] != 0 || type == nullptr) {
    throw ProtocolError("read_idx: '" + name +
                        "' is not an IDX file: expected magic 00 00 <type> <dims> with type "
                        "0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E, found " +
                        hex(magic[0]) + " " + hex(magic[1]) + " " + hex(magic[2]) + " " +
                        hex(magic[3]));
  }
  const size_t ndims = magic[3];
  std::vector<unsigned char> dims_raw(ndims * 4);
  read_exact(file, std::as_writable_bytes(std::span(dims_raw)), name, "dimensions");

  IdxArray out;
  out.dtype = type->dtype;
  uint64_t numel = 1;
  for (size_t d = 0; d < ndims; ++d) {
    const uint32_t dim = load_be32(&dims_raw[d * 4]);
    out.shape.push_back(static_cast<int64_t>(dim));
    if (dim != 0 && numel > kMaxIdxBytes / dim)
      numel = kMaxIdxBytes + 1;  // saturate
    else
      numel *= dim;
  }
  const uint64_t header = 4 + ndims * 4;
  const uint64_t bound = file.max_content_bytes() > header ? file.max_content_bytes() - header : 0;
  const uint64_t limit = std::min(bound, kMaxIdxBytes);
  if (numel > limit / type->disk_bytes) {
    std::ostringstream shape;
    for (size_t d = 0; d < out.shape.size(); ++d) shape << (d ? " x " : "") << out.shape[d];
    throw ProtocolError("read_idx: '" + name + "': dimensions " + shape.str() + " of " +
                        type->name + " need more data than the file can hold: expected at most " +
                        std::to_string(limit) + " bytes of elements (" +
                        (file.gzipped() ? "gzip'd file of " : "file of ") +
                        std::to_string(file.file_bytes()) + " bytes)");
  }

  const size_t count = static_cast<size_t>(numel);
  const size_t disk_bytes = count * type->disk_bytes;
  out.data = Tensor::empty(out.shape, out.dtype);
  if (type->code == 0x0B) {
    std::vector<std::byte> raw(disk_bytes);
    read_exact(file, raw, name, "int16 elements");
    swap_elements(raw.data(), count, 2);
    int32_t* dst = static_cast<int32_t*>(out.data.data_ptr());
    for (size_t i = 0; i < count; ++i) {
      int16_t v;
      std::memcpy(&v, raw.data() + i * 2, 2);
      dst[i] = v;
    }
  } else {
    std::byte* dst = static_cast<std::byte*>(out.data.data_ptr());
    read_exact(file, std::span(dst, disk_bytes), name, "elements");
    swap_elements(dst, count, type->disk_bytes);
  }
  if (!file.at_end()) {
    throw ProtocolError("read_idx: '" + name + "' is longer than its dimensions say: expected " +
                        std::to_string(header + disk_bytes) + " bytes of IDX data, found more");
  }
  BATON_LOG_DEBUG(kSubsys) << "read_idx: " << name << ": " << count << " " << type->name
                           << " elements";
  return out;
}

}  // namespace baton::train
