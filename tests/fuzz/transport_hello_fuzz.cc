// Fuzzes the TCP transport's handshake (src/transport/tcp/handshake.hpp):
// the hello an accepting rank reads from whoever connects to its port, the
// comparison with the hello it expects, the refusal a connector reads back,
// and the check of the proof that covers them (auth::Secret::verify over
// handshake_transcript).
//
// Input: 72 hello bytes, then byte 72 picks what the expected hello changes
// (or the proof check), then that change's bytes. A hello that decodes must
// encode back to the same bytes, up to the job id field's bytes after its
// terminating zero, which decode_hello does not read.
#include <array>
#include <cstring>

#include "auth/secret.hpp"
#include "fuzz_support.hpp"
#include "transport/tcp/handshake.hpp"

namespace {

namespace th = baton::transport::tcp;
namespace auth = baton::auth;

constexpr size_t kJobIdOffset = 40;  // docs/wire_protocol.md

std::string hex(const th::HelloBytes& b) {
  return baton::fuzz::hex(std::span(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
}

// The job secret both ends of the proof check hold (built once).
const auth::Secret* secret() {
  static const std::shared_ptr<const auth::Secret> s = [] {
    std::shared_ptr<const auth::Secret> out;
    baton::fuzz::graceful([&] { out = auth::Secret::from_text("fuzz-secret-0123456789", "fuzz"); });
    return out;  // null where this build has no libcrypto
  }();
  return s.get();
}

// The acceptor's last step: proof_c over hello_c, nonce_c, hello_a, nonce_a.
void proof(const th::HelloBytes& hello_c, const th::Hello& got, baton::fuzz::Input& in) {
  const auth::Secret* s = secret();
  if (s == nullptr) return;
  auth::Nonce nonce_c{};
  auth::Nonce nonce_a{};
  const auto a = in.take(nonce_c.size());
  std::copy(a.begin(), a.end(), nonce_c.begin());
  const auto b = in.take(nonce_a.size());
  std::copy(b.begin(), b.end(), nonce_a.begin());
  th::Hello answer = got;
  std::swap(answer.from_rank, answer.to_rank);
  const th::HelloBytes hello_a = th::encode_hello(answer);
  const auth::Transcript t = th::handshake_transcript(hello_c, nonce_c, hello_a, nonce_a);
  const auto claimed = in.rest();  // any length: the peer chose it
  const auth::Proof right = s->prove(th::kConnectorRole, t.bytes());
  const bool equal =
      claimed.size() == right.size() && std::equal(claimed.begin(), claimed.end(), right.begin());
  BATON_FUZZ_CHECK(s->verify(th::kConnectorRole, t.bytes(), claimed) == equal,
                   "verify disagrees with prove");
  BATON_FUZZ_CHECK(s->verify(th::kConnectorRole, t.bytes(), right), "the right proof is refused");
  BATON_FUZZ_CHECK(!s->verify(th::kAcceptorRole, t.bytes(), right),
                   "a connector's proof passes as the acceptor's");
}

void check(const th::HelloBytes& bytes, baton::fuzz::Input& in) {
  std::string why;
  const std::optional<th::Hello> got = th::decode_hello(bytes, &why);
  if (!got) {
    BATON_FUZZ_CHECK(!why.empty(), "refused without a reason");
    return;
  }
  BATON_FUZZ_CHECK(got->job_id.size() <= th::kJobIdBytes, "job id longer than its field");
  BATON_FUZZ_CHECK((got->flags & ~th::kKnownFlags) == 0, "unknown flags accepted");
  const bool refusal = (got->flags & th::kFlagRefusal) != 0;
  const auto code = static_cast<uint32_t>(got->refusal);
  BATON_FUZZ_CHECK(refusal ? code >= 1 && code <= th::kLastRefusal : code == 0,
                   "refusal code " + std::to_string(code));
  BATON_FUZZ_CHECK(!th::refusal_text(got->refusal).empty(), "refusal text");
  // Canonical form: the job id field zero-padded after its first zero byte.
  th::HelloBytes canonical = bytes;
  const size_t end = kJobIdOffset + got->job_id.size();
  std::fill(canonical.begin() + static_cast<std::ptrdiff_t>(end), canonical.end(), std::byte{0});
  const th::HelloBytes again = th::encode_hello(*got);
  BATON_FUZZ_CHECK(again == canonical,
                   "accepted hello " + hex(bytes) + " encodes as " + hex(again));
  if (refusal) {
    // A refusal carries ranks and reason only: what refusal_hello builds.
    const th::Hello built = th::refusal_hello(got->from_rank, got->to_rank, got->refusal,
                                              (got->flags & th::kFlagSecret) != 0);
    std::string unused;
    BATON_FUZZ_CHECK(th::decode_hello(th::encode_hello(built), &unused).has_value(),
                     "refusal_hello does not decode");
  }

  // A hello always agrees with itself; any one field changed is named.
  std::string unused;
  BATON_FUZZ_CHECK(th::hello_mismatch(*got, *got, &unused) == th::Refusal::kNone,
                   "a hello differs from itself");
  th::Hello expected = *got;
  switch (in.u8() % 7) {
    case 0: expected.token ^= in.u64() | 1; break;
    case 1: expected.group_hash ^= in.u64() | 1; break;
    case 2: expected.world_size ^= static_cast<int32_t>(in.u64() | 1); break;
    case 3: expected.to_rank ^= static_cast<int32_t>(in.u64() | 1); break;
    case 4: expected.job_id = std::string(in.rest_text()); break;
    case 5: expected.from_rank ^= static_cast<int32_t>(in.u64() | 1); break;  // not compared
    case 6: proof(bytes, *got, in); return;
  }
  std::string difference;
  const th::Refusal mismatch = th::hello_mismatch(*got, expected, &difference);
  const bool same = got->token == expected.token && got->group_hash == expected.group_hash &&
                    got->world_size == expected.world_size && got->to_rank == expected.to_rank &&
                    got->job_id == th::job_id_field(expected.job_id);
  BATON_FUZZ_CHECK((mismatch == th::Refusal::kNone) == same,
                   "hello_mismatch says " + std::to_string(static_cast<uint32_t>(mismatch)));
  BATON_FUZZ_CHECK(same || !difference.empty(), "a mismatch without a reason");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  baton::fuzz::Input in(data, size);
  const auto raw = in.take(th::kHelloSize);
  if (raw.size() != th::kHelloSize) {
    // Short inputs: the job id field's rule on arbitrary text.
    const std::string_view text(reinterpret_cast<const char*>(raw.data()), raw.size());
    const std::string field = th::job_id_field(text);
    BATON_FUZZ_CHECK(field.size() <= th::kJobIdBytes, "job_id_field longer than the field");
    BATON_FUZZ_CHECK(text.size() > th::kJobIdBytes || field == text, "short job id changed");
    return 0;
  }
  th::HelloBytes bytes{};
  std::memcpy(bytes.data(), raw.data(), bytes.size());
  baton::fuzz::graceful([&] { check(bytes, in); });
  return 0;
}
