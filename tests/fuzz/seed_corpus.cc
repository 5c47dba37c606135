// Writes the seed corpora (tests/fuzz/corpus/<target>/) from Baton's own
// encoders: valid messages of every kind, plus a few malformed ones next to
// each (wrong magic, version, lengths, truncation), so every fuzz run starts
// from inputs that reach deep into the parsers.
//
//   fuzz_seed_corpus <corpus dir>     (scripts/fuzz.sh --seeds)
//
// Each file's first bytes are the harness's selector bytes, as documented in
// that harness (<target>_fuzz.cc). Files are small (a few hundred bytes).
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "auth/secret.hpp"
#include "store/file_log.hpp"
#include "store/tcp_protocol.hpp"
#include "transport/frame.hpp"
#include "transport/tcp/handshake.hpp"

namespace baton::fuzz::seeds {

// Writes the files of one target's corpus.
class Writer {
 public:
  explicit Writer(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
  }
  void put(const std::string& name, std::span<const uint8_t> bytes) const {
    std::ofstream out(dir_ / name, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }
  void put(const std::string& name, std::string_view text) const {
    put(name, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }
  void put(const std::string& name, std::span<const std::byte> bytes) const {
    put(name, std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  }

 private:
  std::filesystem::path dir_;
};

namespace {

// Prefix bytes then payload.
std::vector<uint8_t> cat(std::initializer_list<uint8_t> prefix, std::span<const uint8_t> bytes) {
  std::vector<uint8_t> out(prefix);
  out.insert(out.end(), bytes.begin(), bytes.end());
  return out;
}

std::vector<uint8_t> cat(std::initializer_list<uint8_t> prefix, std::span<const std::byte> bytes) {
  return cat(prefix, std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

std::vector<uint8_t> cat(std::initializer_list<uint8_t> prefix, std::string_view text) {
  return cat(prefix, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

void config(const Writer& w) {
  const std::pair<uint8_t, std::string_view> seeds[] = {
      {0, "67108864"},
      {0, " -5 "},
      {0, "0x10"},
      {0, "9223372036854775807"},
      {0, "9223372036854775808"},
      {0, "1e3"},
      {1, "true"},
      {1, " Off\n"},
      {1, "maybe"},
      {2, "30s"},
      {2, " 500ms"},
      {2, "2m"},
      {2, "1h"},
      {2, "1.5"},
      {2, "-1s"},
      {2, "5 min"},
      {2, "10min"},
      {3, "300s"},
      {3, ""},
      {4, "BATON_TIMEOUT"},
      {4, "BATON_NOT_A_TUNABLE"},
  };
  int i = 0;
  for (const auto& [mode, text] : seeds) {
    w.put("seed-" + std::to_string(i++), cat({mode}, text));
  }
}

void init_method(const Writer& w) {
  const std::string_view seeds[] = {
      "env://",
      "env://?rank=0&world_size=2",
      "tcp://127.0.0.1:29500",
      "tcp://[::1]:29500?rank=1&world_size=2",
      "tcp://node7:1",
      "TCP://Node7:65535",
      "file:///tmp/baton/store",
      "file://localhost/tmp/x?world_size=4",
      // malformed
      "tcp://::1:80",
      "tcp://h:0",
      "tcp://h:65536",
      "tcp://h:",
      "tcp://:80",
      "tcp://[::1",
      "tcp://[::1]x",
      "tcp://h:80/path",
      "file://relative/path",
      "file:///dir/",
      "env://host",
      "http://x",
      "no-scheme",
      "env://?rank=-1",
      "env://?rank",
      "env://?foo=1",
      "env://?world_size=0",
      "env://?rank= 7 &&",
  };
  int i = 0;
  for (const std::string_view s : seeds) w.put("seed-" + std::to_string(i++), s);
}

// An IDX file: magic, big-endian dims, elements given as raw big-endian bytes.
std::vector<uint8_t> idx_file(uint8_t type, std::initializer_list<uint32_t> dims,
                              size_t data_bytes) {
  std::vector<uint8_t> out = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (const uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(d >> s));
  }
  for (size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<uint8_t>(i * 37 + 11));
  return out;
}

std::vector<uint8_t> gzip(std::span<const uint8_t> plain, const std::filesystem::path& scratch) {
  gzFile gz = gzopen(scratch.c_str(), "wb9");
  gzwrite(gz, plain.data(), static_cast<unsigned>(plain.size()));
  gzclose(gz);
  std::ifstream in(scratch, std::ios::binary);
  std::vector<uint8_t> out{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::filesystem::remove(scratch);
  return out;
}

void idx(const Writer& w, const std::filesystem::path& scratch) {
  w.put("ubyte-2x3", idx_file(0x08, {2, 3}, 6));
  w.put("sbyte-4", idx_file(0x09, {4}, 4));
  w.put("int16-3", idx_file(0x0B, {3}, 6));
  w.put("int32-2x1", idx_file(0x0C, {2, 1}, 8));
  w.put("float-2x2", idx_file(0x0D, {2, 2}, 16));
  w.put("double-1", idx_file(0x0E, {1}, 8));
  w.put("scalar", idx_file(0x08, {}, 1));
  w.put("empty-dim", idx_file(0x0D, {0, 5}, 0));
  w.put("labels-10", idx_file(0x08, {10}, 10));
  const auto images = idx_file(0x08, {2, 28, 28}, 2 * 28 * 28);
  w.put("images-gz", gzip(images, scratch));
  w.put("labels-gz", gzip(idx_file(0x08, {10}, 10), scratch));
  // malformed
  w.put("truncated", idx_file(0x08, {2, 3}, 5));
  w.put("too-long", idx_file(0x08, {2, 3}, 7));
  w.put("bad-magic", idx_file(0x07, {1}, 1));
  w.put("huge-dims", idx_file(0x0E, {0xffffffff, 0xffffffff}, 8));
  w.put("short-dims", std::vector<uint8_t>{0, 0, 0x08, 3, 0, 0});
  auto gz = gzip(images, scratch);
  gz.resize(gz.size() / 2);
  w.put("gz-truncated", gz);
}

void file_store(const Writer& w) {
  namespace fl = store::file_log;
  std::vector<uint8_t> file = fl::encode_header({.users = 2, .job_id = "job-1234"});
  w.put("header-only", file);
  const std::vector<uint8_t> value = {'4', '2'};
  fl::append_record(file, fl::RecordType::kSet, "rank/0/addr", value);
  fl::append_record(file, fl::RecordType::kSet, "counter", std::vector<uint8_t>{'7'});
  fl::append_record(file, fl::RecordType::kDelete, "rank/0/addr");
  fl::append_record(file, fl::RecordType::kSet, "", {});
  w.put("records", file);
  auto torn = file;
  torn.resize(torn.size() - 3);
  w.put("torn-tail", torn);
  auto bad_type = file;
  bad_type[fl::kHeaderBytes] = 9;
  w.put("bad-record-type", bad_type);
  auto long_key = fl::encode_header({});
  long_key.insert(long_key.end(), {1, 0x01, 0x20, 0, 0, 0, 0, 0, 0});  // key of 8193 bytes
  w.put("key-too-long", long_key);
  auto bad_version = fl::encode_header({.version = 2});
  w.put("version-2", bad_version);
  auto bad_job = fl::encode_header({});
  bad_job[16] = 201;  // job id length
  w.put("job-id-201", bad_job);
  auto bad_magic = fl::encode_header({});
  bad_magic[0] = 'X';
  w.put("bad-magic", bad_magic);
  // Short inputs are replayed as records alone.
  std::vector<uint8_t> records;
  fl::append_record(records, fl::RecordType::kSet, "k", value);
  fl::append_record(records, fl::RecordType::kDelete, "k");
  w.put("records-only", records);
}

void transport_frame(const Writer& w) {
  namespace tr = transport;
  tr::FrameHeader p2p;
  p2p.envelope.tag = 7;
  p2p.length = 1024;
  w.put("p2p", cat({3, 0}, tr::encode_frame_header(p2p)));
  tr::FrameHeader coll;
  coll.envelope = {
      .channel = tr::Channel::kCollective,
      .seq = 12,
      .tag = 3,
      .op = {.kind = 1, .dtype = 5, .reduce_op = 1, .root = -1, .count = 256, .algorithm = 2}};
  coll.length = 1024;
  w.put("collective", cat({4, 2}, tr::encode_frame_header(coll)));
  coll.envelope.op.root = 3;
  w.put("collective-root", cat({4, 1}, tr::encode_frame_header(coll)));
  w.put("abort",
        cat({2, 1}, tr::encode_frame_header(tr::make_abort_header(ErrorCode::kMismatch, 40))));
  tr::FrameHeader bye;
  bye.type = tr::FrameType::kGoodbye;
  w.put("goodbye", cat({2, 0}, tr::encode_frame_header(bye)));
  // malformed
  const std::string_view http = "GET / HTTP/1.1\r\nHost: node7:29500\r\nUser-Agent: x\r\n";
  w.put("http", cat({2, 0}, std::span(reinterpret_cast<const uint8_t*>(http.data()), 48)));
  auto v1 = tr::encode_frame_header(p2p);
  v1[4] = std::byte{1};
  w.put("version-1", cat({2, 0}, v1));
  coll.envelope.op.root = 9;
  w.put("root-out-of-range", cat({4, 1}, tr::encode_frame_header(coll)));
  auto huge_abort = tr::encode_frame_header(tr::make_abort_header(ErrorCode::kIo, 1 << 20));
  w.put("abort-too-long", cat({2, 1}, huge_abort));
}

void store_protocol(const Writer& w) {
  namespace tcp = store::tcp;
  // Byte 0: the message (store_protocol_fuzz.cc); byte 1: the value limit
  // (3: 64 MiB, 1: 16 bytes).
  w.put("hello", cat({0, 3}, tcp::encode_hello({})));
  w.put("hello-secret", cat({0, 3}, tcp::encode_hello({.flags = tcp::kHelloHasSecret})));
  w.put("hello-v1", cat({0, 3}, tcp::encode_hello({.version = 1})));
  w.put("hello-flags", cat({0, 3}, tcp::encode_hello({.flags = 6})));
  w.put("hello-http", cat({0, 3}, std::string_view("GET / HT")));
  for (uint16_t st = 0; st <= tcp::kLastHelloStatus; ++st) {
    w.put("ack-" + std::to_string(st),
          cat({1, 3}, tcp::encode_hello_ack({.status = static_cast<tcp::HelloStatus>(st),
                                             .epoch = 0x0123456789abcdefull})));
  }
  const std::vector<uint8_t> value = {'v', 'a', 'l', 'u', 'e'};
  const std::vector<uint8_t> other = {'4', '2'};
  std::vector<tcp::Request> requests(8);
  requests[0] = {.command = tcp::Command::kSet, .key = "rank/0/addr", .value = value};
  requests[1] = {.command = tcp::Command::kGet, .key = "rank/0/addr", .timeout_ms = 300000};
  requests[2] = {.command = tcp::Command::kAdd, .key = "counter", .delta = -7};
  requests[3] = {
      .command = tcp::Command::kCompareSet, .key = "k", .expected = other, .desired = value};
  requests[4] = {.command = tcp::Command::kCheck, .keys = {"a", "bb", ""}};
  requests[5] = {.command = tcp::Command::kWait, .timeout_ms = 1000, .keys = {"a", "b"}};
  requests[6] = {.command = tcp::Command::kDeleteKey, .key = "k"};
  requests[7] = {.command = tcp::Command::kNumKeys};
  for (const tcp::Request& r : requests) {
    const std::vector<uint8_t> frame = tcp::encode_request(r, 64 << 20);
    const std::string name(tcp::command_name(r.command));
    w.put("request-" + name, cat({2, 3}, frame));
    w.put("body-" + name, cat({3, 3, static_cast<uint8_t>(r.command)},
                              std::span(frame).subspan(tcp::kFrameHeaderBytes)));
  }
  // A stream the server applies: set a counter, add to it, compare_set,
  // add to text that is no counter, delete.
  std::vector<uint8_t> stream = {8, 3};
  const std::vector<uint8_t> seven = {'7'};
  const std::vector<uint8_t> text = {'x', '1'};
  for (const tcp::Request& r :
       {tcp::Request{.command = tcp::Command::kSet, .key = "c", .value = seven},
        tcp::Request{.command = tcp::Command::kAdd, .key = "c", .delta = 5},
        tcp::Request{
            .command = tcp::Command::kCompareSet, .key = "c", .expected = {}, .desired = text},
        tcp::Request{.command = tcp::Command::kAdd, .key = "c", .delta = 1},
        tcp::Request{.command = tcp::Command::kDeleteKey, .key = "c"},
        tcp::Request{.command = tcp::Command::kAdd, .key = "n", .delta = INT64_MAX},
        tcp::Request{.command = tcp::Command::kAdd, .key = "n", .delta = 1}}) {
    const auto frame = tcp::encode_request(r, 64 << 20);
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  w.put("stream", stream);
  // malformed
  const std::vector<uint8_t> twenty(20, 'x');
  auto big =
      tcp::encode_request({.command = tcp::Command::kSet, .key = "k", .value = twenty}, 64 << 20);
  w.put("request-value-over-16", cat({2, 1}, big));  // byte 1 = 1: a 16-byte value limit
  big[4] = 9;
  w.put("request-unknown-command", cat({2, 3}, big));
  auto wait = tcp::encode_request(requests[5], 64 << 20);
  wait[tcp::kFrameHeaderBytes + 8] = 0xff;  // a key count the frame cannot hold
  w.put("request-wait-count", cat({2, 3}, wait));
  w.put("error-reply",
        cat({4, 3}, tcp::encode_error_reply(tcp::WireError::kProtocol, "bad frame")));
  w.put("max-value-0", std::vector<uint8_t>{5, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  w.put("max-value-3g", std::vector<uint8_t>{5, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0});
  w.put("max-buffered", std::vector<uint8_t>{7, 2, 0, 0, 0x10, 0, 0, 0, 0, 0});
  // proof: hello, client nonce, ack, server nonce, proof
  std::vector<uint8_t> proof = cat({6, 3}, tcp::encode_hello({.flags = tcp::kHelloHasSecret}));
  proof.resize(proof.size() + auth::kNonceBytes, 0x11);
  const auto ack = tcp::encode_hello_ack({.status = tcp::HelloStatus::kChallenge, .epoch = 5});
  proof.insert(proof.end(), ack.begin(), ack.end());
  proof.resize(proof.size() + auth::kNonceBytes + auth::kProofBytes, 0x22);
  w.put("proof", proof);
}

void transport_hello(const Writer& w) {
  namespace th = transport::tcp;
  th::Hello h{.token = 0x1122334455667788,
              .group_hash = th::fnv1a64("default_pg"),
              .from_rank = 1,
              .to_rank = 0,
              .world_size = 4,
              .job_id = "job-1234"};
  const auto plain = th::encode_hello(h);
  // Byte 72 picks the expected hello's change (0..5) or the proof check (6).
  for (uint8_t change = 0; change < 7; ++change) {
    std::vector<uint8_t> input = cat({}, plain);
    input.push_back(change);
    for (int i = 0; i < 8; ++i) input.push_back(static_cast<uint8_t>(change * 11 + i));
    w.put("hello-change-" + std::to_string(change), input);
  }
  h.flags = th::kFlagSecret;
  std::vector<uint8_t> secret = cat({}, th::encode_hello(h));
  secret.push_back(6);  // proof check: nonce_c, nonce_a, then a 32-byte proof
  secret.resize(secret.size() + 96, 0x5a);
  w.put("hello-secret-proof", secret);
  h.job_id = std::string(40, 'j');  // longer than the field: its hash
  w.put("hello-long-job-id", th::encode_hello(h));
  for (uint32_t r = 1; r <= th::kLastRefusal; ++r) {
    w.put("refusal-" + std::to_string(r),
          th::encode_hello(th::refusal_hello(0, 1, static_cast<th::Refusal>(r), r % 2 == 0)));
  }
  // malformed
  const std::string_view http =
      "GET / HTTP/1.1\r\nHost: node7:29500\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
  w.put("http", http.substr(0, th::kHelloSize));
  auto v1 = plain;
  v1[4] = std::byte{1};
  w.put("version-1", v1);
  auto flags = plain;
  flags[6] = std::byte{4};
  w.put("unknown-flags", flags);
  auto code = plain;
  code[36] = std::byte{3};  // a refusal code without kFlagRefusal
  w.put("refusal-code-without-flag", code);
  auto job = plain;
  job[41] = std::byte{0x07};
  w.put("job-id-not-printable", job);
  auto padding = plain;
  padding[70] = std::byte{'x'};  // after the job id's zero: not read
  w.put("job-id-padding", padding);
  w.put("short", std::span(plain).first(20));
}

}  // namespace
}  // namespace baton::fuzz::seeds

int main(int argc, char** argv) {
  namespace s = baton::fuzz::seeds;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1];
  s::config(s::Writer(root / "config"));
  s::init_method(s::Writer(root / "init_method"));
  s::idx(s::Writer(root / "idx"), root / ".scratch.gz");
  s::file_store(s::Writer(root / "file_store"));
  s::transport_frame(s::Writer(root / "transport_frame"));
  s::store_protocol(s::Writer(root / "store_protocol"));
  s::transport_hello(s::Writer(root / "transport_hello"));
  return 0;
}
