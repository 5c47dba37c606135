// FileStore file format; see file_log.hpp.
#include "store/file_log.hpp"

#include <cstring>

#include "baton/error.hpp"
#include "store/bytes.hpp"
#include "store/store_common.hpp"

namespace baton::store::file_log {

std::vector<uint8_t> encode_header(const Header& header) {
  std::vector<uint8_t> out;
  out.reserve(kHeaderBytes);
  ByteWriter w(out);
  w.bytes(std::string_view(kMagic, sizeof(kMagic)));
  w.u32(header.version);
  w.u32(header.users);
  w.blob(header.job_id);
  out.resize(kHeaderBytes, 0);
  return out;
}

DecodedHeader decode_header(std::span<const uint8_t> bytes) {
  DecodedHeader out;
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    out.error = "it does not start with the FileStore header (magic \"BATONFS\")";
    return out;
  }
  ByteReader r(bytes.subspan(sizeof(kMagic)));
  Header h;
  uint32_t job_length = 0;
  r.u32(h.version);
  r.u32(h.users);
  r.u32(job_length);
  if (h.version != kFormatVersion) {
    out.error = "FileStore format version " + std::to_string(h.version) + ", expected " +
                std::to_string(kFormatVersion);
    return out;
  }
  std::span<const uint8_t> job;
  if (job_length > kMaxJobIdBytes || !r.bytes(job_length, job)) {
    out.error = "its header claims a job id of " + std::to_string(job_length) + " bytes (at most " +
                std::to_string(kMaxJobIdBytes) + ")";
    return out;
  }
  h.job_id = std::string(as_string_view(job));
  out.header = std::move(h);
  return out;
}

std::vector<uint8_t> encode_u32(uint32_t value) {
  std::vector<uint8_t> out;
  ByteWriter(out).u32(value);
  return out;
}

void append_record(std::vector<uint8_t>& out, RecordType type, std::string_view key,
                   std::span<const uint8_t> value) {
  ByteWriter w(out);
  w.u8(static_cast<uint8_t>(type));
  w.u32(static_cast<uint32_t>(key.size()));
  w.u32(static_cast<uint32_t>(value.size()));
  w.bytes(key);
  w.bytes(value);
}

size_t apply_records(std::span<const uint8_t> data, KvMap& map, std::string_view where,
                     uint64_t offset) {
  size_t done = 0;
  while (data.size() - done >= kRecordHeaderBytes) {
    ByteReader r(data.subspan(done));
    uint8_t type = 0;
    uint32_t key_length = 0;
    uint32_t value_length = 0;
    r.u8(type);
    r.u32(key_length);
    r.u32(value_length);
    const auto corrupt = [&](const std::string& why) {
      return IoError(std::string(where) + " is corrupt at offset " + std::to_string(offset + done) +
                     ": " + why);
    };
    if (type != static_cast<uint8_t>(RecordType::kSet) &&
        type != static_cast<uint8_t>(RecordType::kDelete)) {
      throw corrupt("record type " + std::to_string(type) + ", expected 1 (set) or 2 (delete)");
    }
    if (key_length > kMaxKeyBytes) {
      throw corrupt("key length " + std::to_string(key_length) + " exceeds " +
                    std::to_string(kMaxKeyBytes));
    }
    std::span<const uint8_t> key;
    std::span<const uint8_t> value;
    // Lengths are checked against the bytes actually present before any use,
    // so a corrupt length never turns into a large allocation.
    if (!r.bytes(key_length, key) || !r.bytes(value_length, value)) break;  // incomplete tail
    if (type == static_cast<uint8_t>(RecordType::kSet)) {
      map.set(as_string_view(key), KvMap::Bytes(value.begin(), value.end()));
    } else {
      map.erase(as_string_view(key));
    }
    done += r.position();
  }
  return done;
}

}  // namespace baton::store::file_log
