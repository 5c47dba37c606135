// Parked get/wait requests of the TcpStore server; see wait_list.hpp.
#include "store/wait_list.hpp"

#include <algorithm>

namespace baton::store {

namespace {

const std::string* first_missing(const std::vector<std::string>& keys, const KvMap& map) {
  for (const std::string& key : keys) {
    if (!map.contains(key)) return &key;
  }
  return nullptr;
}

}  // namespace

uint64_t WaitList::park(ParkedRequest request, Clock::time_point deadline, const KvMap& map) {
  const uint64_t id = next_id_++;
  const std::string* missing = first_missing(request.keys, map);
  Entry& entry = entries_[id];
  entry.registered_key = missing != nullptr ? *missing : std::string();
  entry.request = std::move(request);
  entry.deadline = deadlines_.emplace(deadline, id);
  by_key_[entry.registered_key].push_back(id);
  return id;
}

std::vector<ParkedRequest> WaitList::on_key_created(std::string_view key, const KvMap& map) {
  std::vector<ParkedRequest> ready;
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return ready;
  const std::vector<uint64_t> ids = std::move(it->second);
  by_key_.erase(it);
  for (uint64_t id : ids) {
    auto entry = entries_.find(id);
    if (entry == entries_.end()) continue;
    if (const std::string* next = first_missing(entry->second.request.keys, map)) {
      entry->second.registered_key = *next;
      by_key_[*next].push_back(id);
    } else {
      entry->second.registered_key.clear();
      ready.push_back(remove(id));
    }
  }
  return ready;
}

std::vector<ParkedRequest> WaitList::take_expired(Clock::time_point now) {
  std::vector<ParkedRequest> expired;
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const uint64_t id = deadlines_.begin()->second;
    unlist(id, entries_.at(id).registered_key);
    expired.push_back(remove(id));
  }
  return expired;
}

void WaitList::forget(uint64_t id) {
  auto entry = entries_.find(id);
  if (entry == entries_.end()) return;
  unlist(id, entry->second.registered_key);
  remove(id);
}

std::optional<WaitList::Clock::time_point> WaitList::next_deadline() const {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

void WaitList::clear() {
  entries_.clear();
  by_key_.clear();
  deadlines_.clear();
}

ParkedRequest WaitList::remove(uint64_t id) {
  auto entry = entries_.find(id);
  ParkedRequest request = std::move(entry->second.request);
  deadlines_.erase(entry->second.deadline);
  entries_.erase(entry);
  return request;
}

void WaitList::unlist(uint64_t id, const std::string& key) {
  auto list = by_key_.find(key);
  if (list == by_key_.end()) return;
  std::erase(list->second, id);
  if (list->second.empty()) by_key_.erase(list);
}

}  // namespace baton::store
