// Random identifiers: job ids, connection tokens, store epochs, probe words.
//
// Not for secrets (no cryptographic guarantee beyond std::random_device's);
// for telling one job, group or server apart from another.
//
// Thread safety: safe from any thread.
#pragma once

#include <cstdint>
#include <string>

namespace baton {

// 64 random bits from getrandom(2) (std::random_device where it fails).
uint64_t random_u64();
// random_u64() as 16 lower-case hex digits.
std::string random_hex();

}  // namespace baton
