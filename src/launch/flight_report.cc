// Parsing flight records and the stuck-job report; see flight_report.hpp.
#include "launch/flight_report.hpp"

#include <dirent.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "baton/error.hpp"
#include "core/describe.hpp"
#include "core/socket.hpp"

namespace baton::launch {
namespace {

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(sep, start), text.size());
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

template <class T>
std::optional<T> number(std::string_view text) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

class Parser {
 public:
  Parser(const std::string& path) : path_(path) {}

  [[noreturn]] void fail(size_t line, const std::string& why) const {
    throw ProtocolError("flight record " + path_ + " line " + std::to_string(line) + ": " + why);
  }

  template <class T>
  T num(size_t line, std::string_view key, std::string_view value) const {
    const auto v = number<T>(value);
    if (!v) fail(line, std::string(key) + "='" + std::string(value) + "' is not a number");
    return *v;
  }

  // "key=value key=value" into a map; every key of `required` must be there.
  std::map<std::string_view, std::string_view> fields(
      size_t line, std::string_view rest, std::initializer_list<std::string_view> required) const {
    std::map<std::string_view, std::string_view> out;
    for (std::string_view word : split(rest, ' ')) {
      if (word.empty()) continue;
      const size_t eq = word.find('=');
      if (eq == std::string_view::npos) fail(line, "'" + std::string(word) + "' is not key=value");
      out[word.substr(0, eq)] = word.substr(eq + 1);
    }
    for (std::string_view key : required) {
      if (!out.contains(key)) fail(line, "no " + std::string(key) + "=");
    }
    return out;
  }

 private:
  std::string path_;
};

std::string what_op(const FlightOpRecord& op, std::string_view group) {
  std::string out;
  if (op.seq == 0) {
    out = op.kind + (op.kind == "send" ? " to rank " : " from ") +
          (op.peer < 0 ? std::string("any rank")
                       : (op.kind == "send" ? "" : "rank ") + std::to_string(op.peer)) +
          " (tag " + std::to_string(op.tag) + ", " + std::to_string(op.bytes) + " bytes)";
  } else {
    out = op.kind + " #" + std::to_string(op.seq) + " (" + op.dtype + " x " +
          std::to_string(op.count);
    if (op.root >= 0) out += ", root " + std::to_string(op.root);
    if (op.algorithm != "-") out += ", " + op.algorithm;
    out += ")";
  }
  if (!group.empty()) out += " on " + std::string(group);
  return out;
}

std::string seconds_text(int64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(us) / 1e6);
  return buf;
}

struct RankView {
  const FlightDump* dump = nullptr;
  const FlightGroup* group = nullptr;
  const FlightOpRecord* last_completed = nullptr;
  const FlightOpRecord* pending = nullptr;  // the oldest collective not completed
  std::vector<const FlightOpRecord*> p2p_pending;
};

RankView view_of(const FlightDump& dump, const FlightGroup& group) {
  RankView v;
  v.dump = &dump;
  v.group = &group;
  for (const FlightOpRecord& op : group.ops) {
    if (op.seq == 0) {
      if (op.state == "posted") v.p2p_pending.push_back(&op);
      continue;
    }
    if (op.state == "completed") {
      if (v.last_completed == nullptr || op.seq > v.last_completed->seq) v.last_completed = &op;
    } else if (v.pending == nullptr || op.seq < v.pending->seq) {
      v.pending = &op;
    }
  }
  return v;
}

}  // namespace

FlightDump parse_flight_dump(std::string_view text, const std::string& path) {
  const Parser p(path);
  FlightDump dump;
  dump.path = path;
  std::vector<std::string_view> lines = split(text, '\n');
  if (lines.empty() || lines[0] != "baton-flight 1") {
    p.fail(1, "not a Baton flight record (expected 'baton-flight 1')");
  }
  bool ended = false;
  for (size_t i = 1; i < lines.size() && !ended; ++i) {
    const size_t n = i + 1;
    const std::string_view line = lines[i];
    if (line.empty()) continue;
    const size_t space = line.find(' ');
    const std::string_view key = line.substr(0, space);
    const std::string_view rest = space == std::string_view::npos ? "" : line.substr(space + 1);
    if (key == "end") {
      ended = true;
    } else if (key == "pid") {
      dump.pid = p.num<int64_t>(n, key, rest);
    } else if (key == "rank") {
      dump.rank = p.num<int>(n, key, rest);
    } else if (key == "reason") {
      dump.reason = std::string(rest);
    } else if (key == "now_us") {
      dump.now_us = p.num<int64_t>(n, key, rest);
    } else if (key == "wall_us") {
      p.num<int64_t>(n, key, rest);
    } else if (key == "group") {
      dump.groups.emplace_back();
      dump.groups.back().name = std::string(rest);
    } else if (key == "group_info" || key == "op") {
      if (dump.groups.empty()) p.fail(n, std::string(key) + " before any group line");
      FlightGroup& g = dump.groups.back();
      if (key == "group_info") {
        const auto f = p.fields(n, rest, {"rank", "size", "transport", "world_ranks"});
        g.rank = p.num<int>(n, "rank", f.at("rank"));
        g.size = p.num<int>(n, "size", f.at("size"));
        g.transport = std::string(f.at("transport"));
        for (std::string_view r : split(f.at("world_ranks"), ',')) {
          g.world_ranks.push_back(p.num<int>(n, "world_ranks", r));
        }
        if (g.size < 1 || g.rank < 0 || g.rank >= g.size ||
            g.world_ranks.size() != static_cast<size_t>(g.size)) {
          p.fail(n, "rank, size and world_ranks disagree");
        }
      } else {
        const auto f =
            p.fields(n, rest,
                     {"ticket", "seq", "kind", "dtype", "count", "bytes", "root", "peer", "tag",
                      "algorithm", "state", "issued_us", "started_us", "ended_us"});
        FlightOpRecord op;
        op.ticket = p.num<uint64_t>(n, "ticket", f.at("ticket"));
        op.seq = p.num<uint64_t>(n, "seq", f.at("seq"));
        op.kind = std::string(f.at("kind"));
        op.dtype = std::string(f.at("dtype"));
        op.count = p.num<uint64_t>(n, "count", f.at("count"));
        op.bytes = p.num<uint64_t>(n, "bytes", f.at("bytes"));
        op.root = p.num<int64_t>(n, "root", f.at("root"));
        op.peer = p.num<int64_t>(n, "peer", f.at("peer"));
        op.tag = p.num<int64_t>(n, "tag", f.at("tag"));
        op.algorithm = std::string(f.at("algorithm"));
        op.state = std::string(f.at("state"));
        op.issued_us = p.num<int64_t>(n, "issued_us", f.at("issued_us"));
        op.started_us = p.num<int64_t>(n, "started_us", f.at("started_us"));
        op.ended_us = p.num<int64_t>(n, "ended_us", f.at("ended_us"));
        g.ops.push_back(std::move(op));
      }
    } else {
      p.fail(n, "unknown line '" + std::string(key) + "'");
    }
  }
  if (!ended) p.fail(lines.size(), "no 'end' line: the record was cut short");
  return dump;
}

std::vector<FlightDump> read_flight_dumps(const std::string& dir, std::string* problems) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    throw IoError("cannot read the flight records in " + dir + ": " + net::error_text(errno));
  }
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > 7 && name.ends_with(".flight")) names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  std::map<int, FlightDump> by_rank;
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    try {
      FlightDump dump = parse_flight_dump(text.str(), path);
      // A restarted rank (another pid) wrote later: keep the newest by pid order of writing.
      auto it = by_rank.find(dump.rank);
      if (it == by_rank.end() || dump.now_us >= it->second.now_us)
        by_rank[dump.rank] = std::move(dump);
    } catch (const Error& e) {
      if (problems != nullptr) *problems += std::string(e.what()) + "\n";
    }
  }
  std::vector<FlightDump> out;
  for (auto& [rank, dump] : by_rank) out.push_back(std::move(dump));
  return out;
}

std::string flight_report(const std::vector<FlightDump>& dumps, int world_size) {
  std::ostringstream out;
  std::vector<int> wrote;
  for (const FlightDump& d : dumps) wrote.push_back(d.rank);
  out << "flight records of " << dumps.size();
  if (world_size > 0) out << " of " << world_size;
  out << " rank" << (dumps.size() == 1 && world_size <= 0 ? "" : "s");
  if (!wrote.empty()) out << " (" << rank_list(wrote) << ")";
  out << "\n";
  if (world_size > 0) {
    std::vector<int> silent;
    for (int r = 0; r < world_size; ++r) {
      if (std::find(wrote.begin(), wrote.end(), r) == wrote.end()) silent.push_back(r);
    }
    if (!silent.empty()) {
      out << "  no record from rank" << (silent.size() == 1 ? " " : "s ") << rank_list(silent)
          << " (stopped, killed or hung before it could write one, or its group never failed)\n";
    }
  }
  for (const FlightDump& d : dumps) {
    if (!d.reason.empty()) out << "  rank " << d.rank << " wrote it on: " << d.reason << "\n";
  }

  // Groups by name, each rank's view.
  std::map<std::string, std::map<int, RankView>> groups;
  std::map<std::string, const FlightGroup*> shape;
  for (const FlightDump& d : dumps) {
    for (const FlightGroup& g : d.groups) {
      groups[g.name][g.rank] = view_of(d, g);
      shape.emplace(g.name, &g);
    }
  }
  for (const auto& [name, ranks] : groups) {
    const FlightGroup& g = *shape.at(name);
    const bool is_world = g.world_ranks.size() == static_cast<size_t>(g.size) &&
                          std::is_sorted(g.world_ranks.begin(), g.world_ranks.end()) &&
                          g.world_ranks.front() == 0 && g.world_ranks.back() == g.size - 1;
    const auto who = [&](int r) {
      std::string s = "rank " + std::to_string(r);
      if (!is_world && static_cast<size_t>(r) < g.world_ranks.size()) {
        s += " (world rank " + std::to_string(g.world_ranks[static_cast<size_t>(r)]) + ")";
      }
      return s;
    };
    out << name << " (" << g.size << " ranks, " << g.transport << "):\n";
    uint64_t target = 0;
    for (const auto& [r, v] : ranks) {
      if (v.pending != nullptr) target = std::max(target, v.pending->seq);
    }
    std::vector<int> waiting, behind, missing;
    std::set<std::string> kinds_at_target;
    for (int r = 0; r < g.size; ++r) {
      const auto it = ranks.find(r);
      out << "  " << who(r) << ": ";
      if (it == ranks.end()) {
        out << "no flight record\n";
        missing.push_back(r);
        continue;
      }
      const RankView& v = it->second;
      out << "last completed "
          << (v.last_completed != nullptr ? what_op(*v.last_completed, "")
                                          : std::string("nothing"));
      if (v.pending != nullptr) {
        const int64_t since =
            v.pending->started_us != 0 ? v.pending->started_us : v.pending->issued_us;
        out << "; " << (v.pending->state == "issued" ? "queued " : "in ") << what_op(*v.pending, "")
            << " for " << seconds_text(v.dump->now_us - since);
        if (v.pending->seq == target) kinds_at_target.insert(v.pending->kind);
      } else {
        out << "; nothing pending";
      }
      for (const FlightOpRecord* p : v.p2p_pending) {
        out << "; posted " << what_op(*p, "") << " " << seconds_text(v.dump->now_us - p->issued_us)
            << " ago";
      }
      out << "\n";
      if (target == 0) continue;
      if (v.pending != nullptr && v.pending->seq == target) {
        waiting.push_back(r);
      } else {
        behind.push_back(r);
      }
    }
    if (target == 0) {
      out << "  => no collective was pending on any rank that wrote a record\n";
      continue;
    }
    std::string op_name;
    for (const auto& [r, v] : ranks) {
      if (v.pending != nullptr && v.pending->seq == target) op_name = v.pending->kind;
    }
    const std::string target_text = op_name + " #" + std::to_string(target) + " on " + name;
    if (kinds_at_target.size() > 1) {
      out << "  => the ranks disagree about operation #" << target << ": ";
      bool first = true;
      for (const std::string& k : kinds_at_target) out << (first ? "" : " vs ") << k, first = false;
      out << "\n";
      continue;
    }
    std::vector<int> culprits = behind;
    culprits.insert(culprits.end(), missing.begin(), missing.end());
    std::sort(culprits.begin(), culprits.end());
    if (culprits.empty()) {
      out << "  => every rank is in " << target_text
          << "; none is behind (look at the point-to-point operations above, or at the network)\n";
      continue;
    }
    std::string names;
    for (int r : culprits) {
      if (!names.empty()) names += ", ";
      names += who(r);
      if (std::find(missing.begin(), missing.end(), r) != missing.end()) {
        names += " (no flight record)";
      } else {
        const RankView& v = ranks.at(r);
        names += v.last_completed != nullptr
                     ? " (last completed #" + std::to_string(v.last_completed->seq) + ")"
                     : " (completed nothing)";
      }
    }
    out << "  => " << (waiting.size() == 1 ? "rank " : "ranks ") << rank_list(waiting)
        << (waiting.size() == 1 ? " waits" : " wait") << " in " << target_text << " for " << names
        << "\n";
  }
  return out.str();
}

}  // namespace baton::launch
