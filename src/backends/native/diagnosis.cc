// Diagnosis of timed-out collectives through the group's store.
#include "backends/native/diagnosis.hpp"

#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "backends/native/op_format.hpp"
#include "baton/error.hpp"
#include "core/describe.hpp"
#include "core/log.hpp"

namespace baton::backends::native {
namespace {

constexpr auto kPoll = std::chrono::milliseconds(10);

std::string key_of(int rank) {
  return "diag/" + std::to_string(rank);
}

std::string list_ranks(const std::vector<int>& ranks) {
  return (ranks.size() == 1 ? "rank " : "ranks ") + rank_list(ranks);
}

}  // namespace

std::string encode_entry(const DiagEntry& entry) {
  std::ostringstream out;
  out << entry.seq << ' ' << int{entry.op.kind} << ' ' << int{entry.op.dtype} << ' '
      << int{entry.op.reduce_op} << ' ' << entry.op.root << ' ' << entry.op.count << ' '
      << int{entry.op.algorithm};
  return out.str();
}

std::optional<DiagEntry> decode_entry(std::string_view text) {
  std::istringstream in{std::string(text)};
  DiagEntry entry;
  int kind = 0, dtype = 0, reduce_op = 0, algorithm = 0;
  if (!(in >> entry.seq >> kind >> dtype >> reduce_op >> entry.op.root >> entry.op.count >>
        algorithm)) {
    return std::nullopt;
  }
  const auto byte = [](int v) { return v >= 0 && v <= 255; };
  if (!byte(kind) || !byte(dtype) || !byte(reduce_op) || !byte(algorithm)) return std::nullopt;
  entry.op.algorithm = static_cast<uint8_t>(algorithm);
  entry.op.kind = static_cast<uint8_t>(kind);
  entry.op.dtype = static_cast<uint8_t>(dtype);
  entry.op.reduce_op = static_cast<uint8_t>(reduce_op);
  return entry;
}

std::exception_ptr diagnose_timeout(Store& store, int rank, int size, const DiagEntry& mine,
                                    std::exception_ptr error, std::string_view group_name,
                                    std::chrono::milliseconds grace) {
  std::vector<std::optional<DiagEntry>> entries(static_cast<size_t>(size));
  entries[static_cast<size_t>(rank)] = mine;
  try {
    store.set(key_of(rank), encode_entry(mine));
    const auto until = std::chrono::steady_clock::now() + grace;
    for (;;) {
      bool complete = true;
      for (int r = 0; r < size; ++r) {
        if (entries[static_cast<size_t>(r)]) continue;
        const std::string key = key_of(r);
        if (store.check(std::span<const std::string>(&key, 1))) {
          entries[static_cast<size_t>(r)] = decode_entry(store.get_string(key));
        }
        if (!entries[static_cast<size_t>(r)]) complete = false;
      }
      if (complete || std::chrono::steady_clock::now() >= until) break;
      std::this_thread::sleep_for(kPoll);
    }
  } catch (const std::exception& e) {
    BATON_LOG_WARN(log::Subsys::kColl)
        << group_name << " rank " << rank << ": diagnosing a timeout failed: " << e.what();
    return error;
  }

  // Ranks at this operation, by what they run.
  std::map<std::string, std::vector<int>> running;
  std::vector<int> missing;
  for (int r = 0; r < size; ++r) {
    const auto& entry = entries[static_cast<size_t>(r)];
    if (!entry || entry->seq < mine.seq) {
      missing.push_back(r);
    } else if (entry->seq == mine.seq) {
      running[describe_op(entry->op, entry->seq)].push_back(r);
    }
  }
  if (running.size() > 1) {
    std::string message = "ranks disagree about operation #" + std::to_string(mine.seq) + " of " +
                          std::string(group_name) + ": ";
    bool first = true;
    for (const auto& [what, ranks] : running) {
      message +=
          (first ? "" : "; ") + list_ranks(ranks) + (ranks.size() == 1 ? " runs " : " run ") + what;
      first = false;
    }
    return std::make_exception_ptr(MismatchError(message));
  }
  if (!missing.empty()) {
    return std::make_exception_ptr(TimeoutError(
        error_message(error) +
        "; ranks still missing: " + list_ranks(missing).substr(missing.size() == 1 ? 5 : 6) +
        " (never started " + describe_op(mine.op, mine.seq) + ")"));
  }
  return error;
}

}  // namespace baton::backends::native
