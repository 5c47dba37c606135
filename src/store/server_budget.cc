// The TcpStoreServer's count of buffered bytes; see server_budget.hpp.
#include "store/server_budget.hpp"

namespace baton::store::server {

void BufferBudget::recharge(uint64_t& charge, uint64_t now) {
  used_ = used_ - charge + now;
  charge = now;
}

void BufferBudget::hold(const KvMap::Value& value, bool in_map) {
  Held& h = held_[value.get()];
  ++h.replies;
  if (!in_map && !h.counted) {
    h.counted = true;
    used_ += value->size();
  }
}

void BufferBudget::release(const KvMap::Value& value) {
  auto it = held_.find(value.get());
  if (it == held_.end()) return;
  if (--it->second.replies > 0) return;
  if (it->second.counted) used_ -= value->size();
  held_.erase(it);
}

void BufferBudget::dropped_from_map(const KvMap::Value& value) {
  auto it = held_.find(value.get());
  if (it == held_.end() || it->second.counted) return;
  it->second.counted = true;
  used_ += value->size();
}

bool BufferBudget::orphaned(const KvMap::Value& value) const {
  auto it = held_.find(value.get());
  return it != held_.end() && it->second.counted;
}

}  // namespace baton::store::server
