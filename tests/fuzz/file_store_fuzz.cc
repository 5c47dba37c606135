// Fuzzes the FileStore file format (src/store/file_log.hpp): the header a
// FileStore checks when it opens an existing file, and the log of records it
// replays from it (a file any local user who can write it may have shaped).
//
// Input: the file's bytes. The header (its first 256 bytes) must decode or be
// refused with a reason; the records after it must replay or throw IoError.
// Replayed records are checked against a reading of docs/wire_protocol.md
// written here, and must encode back (append_record) to the bytes they took.
#include <map>
#include <optional>

#include "fuzz_support.hpp"
#include "store/file_log.hpp"
#include "store/kv_map.hpp"

namespace {

namespace fl = baton::store::file_log;

struct Record {
  uint8_t type = 0;
  std::string key;
  std::vector<uint8_t> value;
};

uint32_t le32(std::span<const uint8_t> b, size_t at) {
  return uint32_t{b[at]} | uint32_t{b[at + 1]} << 8 | uint32_t{b[at + 2]} << 16 |
         uint32_t{b[at + 3]} << 24;
}

// The records the format doc describes, up to an incomplete tail; nullopt
// where a record is corrupt (unknown type, key over the limit).
std::optional<std::vector<Record>> reference(std::span<const uint8_t> data, size_t& used) {
  std::vector<Record> out;
  used = 0;
  while (data.size() - used >= fl::kRecordHeaderBytes) {
    const uint8_t type = data[used];
    const uint64_t key_length = le32(data, used + 1);
    const uint64_t value_length = le32(data, used + 5);
    if (type != 1 && type != 2) return std::nullopt;
    if (key_length > 8 * 1024) return std::nullopt;
    if (data.size() - used - fl::kRecordHeaderBytes < key_length + value_length) break;
    const auto key = data.subspan(used + fl::kRecordHeaderBytes, key_length);
    const auto value = data.subspan(used + fl::kRecordHeaderBytes + key_length, value_length);
    out.push_back({type, std::string(key.begin(), key.end()), {value.begin(), value.end()}});
    used += fl::kRecordHeaderBytes + key_length + value_length;
  }
  return out;
}

void header(std::span<const uint8_t> file) {
  const auto bytes = file.first(std::min(file.size(), fl::kHeaderBytes));
  const fl::DecodedHeader decoded = fl::decode_header(bytes);
  if (!decoded.header) {
    BATON_FUZZ_CHECK(!decoded.error.empty(), "header refused without a reason");
    return;
  }
  const fl::Header& h = *decoded.header;
  BATON_FUZZ_CHECK(bytes.size() == fl::kHeaderBytes, "short header accepted");
  BATON_FUZZ_CHECK(h.version == fl::kFormatVersion, "version");
  BATON_FUZZ_CHECK(h.job_id.size() <= fl::kMaxJobIdBytes, "job id over the limit");
  // Round trip up to the padding after the job id, which decode_header does
  // not read.
  const std::vector<uint8_t> again = fl::encode_header(h);
  const size_t meaningful = 8 + 4 + 4 + 4 + h.job_id.size();
  BATON_FUZZ_CHECK(again.size() == fl::kHeaderBytes &&
                       std::equal(again.begin(), again.begin() + meaningful, bytes.begin()),
                   "header " + baton::fuzz::hex(bytes) + " encodes as " + baton::fuzz::hex(again));
}

void records(std::span<const uint8_t> data) {
  baton::store::KvMap map;
  size_t used = 0;
  bool replayed = false;
  try {
    used = fl::apply_records(data, map, "fuzz.bin", fl::kHeaderBytes);
    replayed = true;
  } catch (const baton::IoError& e) {
    BATON_FUZZ_CHECK(std::string_view(e.what()).starts_with("fuzz.bin is corrupt at offset "),
                     std::string("IoError without the path and offset: ") + e.what());
  }
  size_t expected_used = 0;
  const std::optional<std::vector<Record>> expected = reference(data, expected_used);
  BATON_FUZZ_CHECK(replayed == expected.has_value(), "apply_records and the format doc disagree");
  if (!replayed) return;
  BATON_FUZZ_CHECK(used == expected_used,
                   "used " + std::to_string(used) + ", expected " + std::to_string(expected_used));

  std::map<std::string, std::vector<uint8_t>> model;
  std::vector<uint8_t> encoded;
  for (const Record& r : *expected) {
    fl::append_record(encoded, static_cast<fl::RecordType>(r.type), r.key, r.value);
    if (r.type == 1) {
      model[r.key] = r.value;
    } else {
      model.erase(r.key);
    }
  }
  BATON_FUZZ_CHECK(
      encoded.size() == used && std::equal(encoded.begin(), encoded.end(), data.begin()),
      "replayed records do not encode back to their bytes");
  BATON_FUZZ_CHECK(map.size() == model.size(), "key count " + std::to_string(map.size()) +
                                                   ", expected " + std::to_string(model.size()));
  for (const Record& r : *expected) {
    const auto* value = map.find(r.key);
    const auto it = model.find(r.key);
    BATON_FUZZ_CHECK((value == nullptr) == (it == model.end()), "key presence differs");
    if (value != nullptr) BATON_FUZZ_CHECK(*value == it->second, "value differs");
  }
  // Replaying the consumed bytes again changes nothing (a reader that
  // re-reads the file from the start).
  baton::store::KvMap again;
  BATON_FUZZ_CHECK(fl::apply_records(data.first(used), again, "fuzz.bin", fl::kHeaderBytes) == used,
                   "replay of the consumed prefix");
  BATON_FUZZ_CHECK(again.size() == map.size(), "replay of the consumed prefix: key count");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> file(data, size);
  baton::fuzz::graceful([&] { header(file); });
  // The records as a FileStore replays them: everything after the header.
  // Short inputs are taken as records alone so that the fuzzer reaches the
  // record parser without first building a 256-byte header.
  const auto log = size > fl::kHeaderBytes ? file.subspan(fl::kHeaderBytes) : file;
  baton::fuzz::graceful([&] { records(log); });
  return 0;
}
