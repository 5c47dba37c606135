// Diagnosis of a collective that timed out: which ranks disagree about the
// operation, and which never started it (see "Diagnosis" in
// native_backend.hpp).
//
// Each rank that fails writes one entry, "diag/<rank>" in the group's store:
// the operation's number and its OpDesc. diagnose_timeout() publishes this
// rank's entry, polls the other ranks' entries until all are there or the
// grace passes, and returns the error the collective should report:
//   MismatchError "ranks disagree about operation #3 of world: ranks 0, 1 run
//     all_reduce #3 (float32, 16 elements, SUM); rank 2 runs broadcast #3
//     (float32, 16 elements, root 0)"
//   TimeoutError "<the original message>; ranks still missing: 2 (never
//     started all_reduce #3)"
//   or the original error when neither applies, or when the store fails.
//
// Thread safety: a free function; safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "baton/store.hpp"
#include "transport/transport.hpp"

namespace baton::backends::native {

struct DiagEntry {
  uint64_t seq = 0;
  transport::OpDesc op;
};

std::string encode_entry(const DiagEntry& entry);
// nullopt for text that is not an entry.
std::optional<DiagEntry> decode_entry(std::string_view text);

// Blocks up to `grace` (plus the store's own latency); never throws.
std::exception_ptr diagnose_timeout(Store& store, int rank, int size, const DiagEntry& mine,
                                    std::exception_ptr error, std::string_view group_name,
                                    std::chrono::milliseconds grace);

}  // namespace baton::backends::native
