// The join protocol of join.hpp: publish, count, assemble, read, acknowledge.
#include "rendezvous/join.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>

#include "baton/error.hpp"
#include "core/describe.hpp"
#include "core/log.hpp"
#include "core/random.hpp"

namespace baton::rendezvous {
namespace {

constexpr auto kSubsys = log::Subsys::kRendezvous;
// Keys per check()/wait() call, well below the stores' per-request limit.
constexpr size_t kKeysPerCall = 4096;

struct Record {
  int world_size = 0;
  HostIdentity host;
  std::string pid;
};

std::span<const uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string to_text(const Store::Bytes& bytes) {
  return std::string(bytes.begin(), bytes.end());
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const size_t at = text.find(sep);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return out;
    text.remove_prefix(at + 1);
  }
}

std::optional<int64_t> to_int(std::string_view text) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string make_job_id() {
  return random_hex();
}

// The keys of one round, and the helpers that read and write them.
class Round {
 public:
  Round(Store& store, std::string prefix, int world_size)
      : store_(store), prefix_(std::move(prefix)), world_size_(world_size) {}

  std::string key(std::string_view leaf) const { return prefix_ + std::string(leaf); }
  std::string rank_key(int rank) const { return prefix_ + "rank/" + std::to_string(rank); }
  std::string read_key(int rank) const { return prefix_ + "read/" + std::to_string(rank); }

  // The ranks among `ranks` whose `key_of(rank)` does not exist, without waiting.
  template <class KeyOf>
  std::vector<int> missing(const std::vector<int>& ranks, KeyOf key_of) {
    std::vector<int> out;
    for (int r : ranks) {
      const std::string k[] = {key_of(r)};
      if (!store_.check(k)) out.push_back(r);
    }
    return out;
  }

  int world_size() const { return world_size_; }

  std::vector<int> all_ranks() const {
    std::vector<int> out(static_cast<size_t>(world_size_));
    for (int r = 0; r < world_size_; ++r) out[static_cast<size_t>(r)] = r;
    return out;
  }

  Record read_record(int rank) {
    const std::string k = rank_key(rank);
    const std::string text = to_text(store_.get(k));
    const std::vector<std::string_view> f = split(text, '\t');
    const std::optional<int64_t> ws = f.size() == 4 ? to_int(f[0]) : std::nullopt;
    if (!ws) {
      throw ProtocolError("rendezvous: key '" + k + "' holds '" + text +
                          "', not a rendezvous record (<world size>\\t<host>\\t<boot id>\\t<pid>)");
    }
    return {static_cast<int>(*ws), {std::string(f[1]), std::string(f[2])}, std::string(f[3])};
  }

  // The outcome built from every rank's record (all present): the table, or an
  // abort when a record disagrees on the world size.
  std::string build_table(const std::string& job_id) {
    std::string table = "table\n" + job_id + "\n";
    for (int r = 0; r < world_size_; ++r) {
      const Record rec = read_record(r);
      if (rec.world_size != world_size_) {
        return "abort\nrendezvous: rank " + std::to_string(r) + " was started with world size " +
               std::to_string(rec.world_size) + " but the others with " +
               std::to_string(world_size_);
      }
      table += rec.host.hostname + "\t" + rec.host.boot_id + "\t" + rec.pid + "\n";
    }
    return table;
  }

  // Sets the outcome unless someone already did; returns the one that holds.
  std::string settle(const std::string& outcome) {
    return to_text(store_.compare_set(key("outcome"), {}, as_bytes(outcome)));
  }

 private:
  Store& store_;
  std::string prefix_;
  int world_size_;
};

std::string timeout_text(const std::vector<int>& missing, const JoinOptions& o) {
  return "rendezvous: " + describe_ranks(missing, o.world_size) + " did not join within " +
         describe_duration(o.timeout);
}

// Waits for the outcome until the deadline; then, if it is still unset,
// settles it: the table when every record is there after all, else the list
// of ranks that never arrived.
std::string await_outcome(Store& store, Round& round, const JoinOptions& o,
                          const std::string& job_id) {
  const std::string keys[] = {round.key("outcome")};
  for (;;) {
    const auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(o.deadline - Clock::now());
    if (remaining.count() > 0) {
      try {
        store.wait(keys, remaining);
        return to_text(store.get(keys[0]));
      } catch (const TimeoutError&) {
        if (Clock::now() < o.deadline) continue;  // a store that woke early
      }
    } else if (store.check(keys)) {
      return to_text(store.get(keys[0]));
    }
    const std::vector<int> missing =
        round.missing(round.all_ranks(), [&](int r) { return round.rank_key(r); });
    if (missing.empty()) return round.settle(round.build_table(job_id));
    std::string verdict = "timeout\n";
    for (size_t i = 0; i < missing.size(); ++i) {
      verdict += (i > 0 ? "," : "") + std::to_string(missing[i]);
    }
    return round.settle(verdict);
  }
}

// The store's host waits (briefly) until every rank in `ranks` has read the outcome.
void linger_for_readers(Store& store, Round& round, const std::vector<int>& ranks, int self) {
  std::vector<int> others;
  std::vector<std::string> keys;
  for (int r : ranks) {
    if (r == self) continue;
    others.push_back(r);
    keys.push_back(round.read_key(r));
  }
  const auto until = Clock::now() + kHostLingerTime;
  try {
    for (size_t i = 0; i < keys.size(); i += kKeysPerCall) {
      const std::span<const std::string> chunk(keys.data() + i,
                                               std::min(kKeysPerCall, keys.size() - i));
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      store.wait(chunk, std::max(left, std::chrono::milliseconds(1)));
    }
  } catch (const TimeoutError&) {
    const std::vector<int> unread = round.missing(others, [&](int r) { return round.read_key(r); });
    BATON_LOG_WARN(kSubsys) << "store host: " << describe_ranks(unread, round.world_size())
                            << " did not read the rendezvous outcome within "
                            << kHostLingerTime.count() << " ms; going on without them";
  }
}

}  // namespace

LocalPlacement local_placement(const std::vector<HostIdentity>& hosts, int rank) {
  LocalPlacement out{0, 0};
  const HostIdentity& me = hosts.at(static_cast<size_t>(rank));
  for (size_t r = 0; r < hosts.size(); ++r) {
    if (hosts[r] != me) continue;
    if (static_cast<int>(r) < rank) ++out.local_rank;
    ++out.local_world_size;
  }
  return out;
}

JoinResult join(Store& store, const JoinOptions& o) {
  const std::string job_prefix = "baton/rdzv/" + (o.job_id.empty() ? "-" : o.job_id) + "/";
  const std::string counter_key = job_prefix + "round/" + std::to_string(o.rank);
  const int64_t g = store.add(counter_key, 1);
  Round round(store, job_prefix + std::to_string(g) + "/", o.world_size);
  BATON_LOG_DEBUG(kSubsys) << "rank " << o.rank << " of " << o.world_size << ": joining round " << g
                           << " under '" << job_prefix << "'";

  // Every rank must agree on the world size; the first to arrive sets it.
  std::optional<std::string> own_error;
  const std::string claim = std::to_string(o.world_size) + " " + std::to_string(o.rank);
  const std::string first =
      to_text(store.compare_set(round.key("world_size"), {}, as_bytes(claim)));
  const std::vector<std::string_view> parts = split(first, ' ');
  const std::optional<int64_t> first_ws = parts.size() == 2 ? to_int(parts[0]) : std::nullopt;
  if (!first_ws) {
    throw ProtocolError("rendezvous: key '" + round.key("world_size") + "' holds '" + first +
                        "', expected '<world size> <rank>'");
  }
  std::string outcome;
  if (*first_ws != o.world_size) {
    own_error = "rendezvous: rank " + std::to_string(o.rank) + " was started with world size " +
                std::to_string(o.world_size) + " but rank " + std::string(parts[1]) +
                " with world size " + std::to_string(*first_ws) +
                " (WORLD_SIZE differs between ranks)";
    outcome = round.settle("abort\n" + *own_error);
  } else {
    const std::string record = std::to_string(o.world_size) + "\t" + o.self.hostname + "\t" +
                               o.self.boot_id + "\t" + std::to_string(::getpid());
    store.set(round.rank_key(o.rank), as_bytes(record));
    const int64_t arrived = store.add(round.key("arrived"), 1);
    const std::string job_id = o.job_id.empty() ? make_job_id() : o.job_id;
    if (arrived == o.world_size) {
      round.settle(round.build_table(job_id));
    } else if (arrived > o.world_size) {
      round.settle("abort\nrendezvous: more than " + std::to_string(o.world_size) +
                   " ranks joined round " + std::to_string(g) + " of '" + job_prefix +
                   "' (two processes with the same rank?)");
    }
    outcome = await_outcome(store, round, o, job_id);
  }

  const size_t nl = outcome.find('\n');
  const std::string_view kind = std::string_view(outcome).substr(0, nl);
  const std::string_view body =
      nl == std::string::npos ? std::string_view() : std::string_view(outcome).substr(nl + 1);

  std::vector<int> missing;
  std::string duplicate_hint;
  if (kind == "timeout") {
    for (std::string_view item : split(body, ',')) {
      const std::optional<int64_t> r = to_int(item);
      if (!r) throw ProtocolError("rendezvous: malformed outcome '" + outcome + "'");
      missing.push_back(static_cast<int>(*r));
    }
    // Another process that started a later round as this rank: say so. Asked
    // before acknowledging, while the store's host is sure to be there.
    try {
      if (store.add(counter_key, 0) > g) {
        duplicate_hint = " (another process also joined as rank " + std::to_string(o.rank) +
                         ": is the same rank set in two processes?)";
      }
    } catch (const Error&) {
    }
  }

  // Tell the store's host we have read the outcome. After this the host may
  // be gone: this rank touches the store no more. A host that is already
  // gone changes nothing about the outcome.
  try {
    store.set(round.read_key(o.rank), std::string_view());
  } catch (const Error& e) {
    BATON_LOG_DEBUG(kSubsys) << "rank " << o.rank << ": could not acknowledge: " << e.what();
  }

  if (o.hosts_store) {
    std::vector<int> readers;
    if (kind == "table") {
      readers = round.all_ranks();
    } else if (kind == "timeout") {
      for (int r : round.all_ranks()) {
        if (std::find(missing.begin(), missing.end(), r) == missing.end()) readers.push_back(r);
      }
    } else {
      // An abort: every rank that joined this round reads it, including one
      // that claimed the round before this rank but has not written its
      // record yet (its round counter says it joined).
      for (int r : round.all_ranks()) {
        try {
          if (store.add(job_prefix + "round/" + std::to_string(r), 0) == g) readers.push_back(r);
        } catch (const Error&) {
        }
      }
    }
    linger_for_readers(store, round, readers, o.rank);
  }

  if (own_error) throw MismatchError(*own_error);
  if (kind == "abort") throw MismatchError(std::string(body));
  if (kind == "timeout") throw TimeoutError(timeout_text(missing, o) + duplicate_hint);
  if (kind != "table") throw ProtocolError("rendezvous: malformed outcome '" + outcome + "'");

  std::vector<std::string_view> lines = split(body, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.size() != static_cast<size_t>(o.world_size) + 1) {
    throw MismatchError("rendezvous: rank " + std::to_string(o.rank) + " expected " +
                        std::to_string(o.world_size) + " ranks but the rendezvous table lists " +
                        std::to_string(lines.empty() ? 0 : lines.size() - 1));
  }
  JoinResult result;
  result.job_id = std::string(lines[0]);
  result.round = g;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string_view> f = split(lines[i], '\t');
    if (f.size() != 3) {
      throw ProtocolError("rendezvous: malformed table line '" + std::string(lines[i]) + "'");
    }
    result.hosts.push_back({std::string(f[0]), std::string(f[1])});
    int64_t pid = 0;
    const auto [end, ec] = std::from_chars(f[2].data(), f[2].data() + f[2].size(), pid);
    if (ec != std::errc() || end != f[2].data() + f[2].size() || pid < 0) {
      throw ProtocolError("rendezvous: malformed pid in table line '" + std::string(lines[i]) +
                          "'");
    }
    result.pids.push_back(pid);
  }
  BATON_LOG_INFO(kSubsys) << "rank " << o.rank << " of " << o.world_size << " joined job "
                          << result.job_id << " (round " << g << ")";
  return result;
}

}  // namespace baton::rendezvous
