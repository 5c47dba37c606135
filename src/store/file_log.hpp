// The FileStore file format: a header, then an append-only log of records.
//
// Byte layout (little-endian; docs/wire_protocol.md has the table):
//   header, kHeaderBytes long: magic "BATONFS\0", format version (u32),
//     user count (u32), job id length (u32), job id bytes, zero padding;
//   records: type (u8: 1 set, 2 delete), key length (u32), value length
//     (u32, 0 for delete), key bytes, value bytes.
// This file only encodes and decodes; file_store.cc does the I/O and locking.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/kv_map.hpp"

namespace baton::store::file_log {

inline constexpr char kMagic[8] = {'B', 'A', 'T', 'O', 'N', 'F', 'S', '\0'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kHeaderBytes = 256;
inline constexpr size_t kUsersOffset = 12;  // where the u32 user count lives
inline constexpr size_t kMaxJobIdBytes = 200;
inline constexpr size_t kRecordHeaderBytes = 9;

enum class RecordType : uint8_t { kSet = 1, kDelete = 2 };

struct Header {
  uint32_t version = kFormatVersion;
  uint32_t users = 0;
  std::string job_id;
};

// kHeaderBytes bytes. The caller has checked job_id fits kMaxJobIdBytes.
std::vector<uint8_t> encode_header(const Header& header);
// The header, or the reason these bytes are not a FileStore header of this
// version ("does not start with the FileStore magic", "format version 7,
// expected 1", ...).
struct DecodedHeader {
  std::optional<Header> header;
  std::string error;
};
DecodedHeader decode_header(std::span<const uint8_t> bytes);

std::vector<uint8_t> encode_u32(uint32_t value);

// Appends one record to out.
void append_record(std::vector<uint8_t>& out, RecordType type, std::string_view key,
                   std::span<const uint8_t> value = {});

// Applies every complete record at the start of data to map and returns how
// many bytes they took; an incomplete record at the end is left unread.
// `where` and `offset` (data's offset in the file) name a corrupt record in
// the IoError thrown for it.
size_t apply_records(std::span<const uint8_t> data, KvMap& map, std::string_view where,
                     uint64_t offset);

}  // namespace baton::store::file_log
