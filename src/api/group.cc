// Group handles and the GroupState behind them.
#include "baton/group.hpp"

#include "api/checks.hpp"
#include "api/group_state.hpp"
#include "baton/distributed.hpp"
#include "baton/error.hpp"
#include "core/log.hpp"

namespace baton {
namespace detail {

GroupState::GroupState(std::string name, std::vector<int> world_ranks, int rank,
                       std::chrono::milliseconds timeout, std::string backend_name,
                       std::shared_ptr<backends::Backend> backend, std::shared_ptr<Store> store)
    : name_(std::move(name)),
      world_ranks_(std::move(world_ranks)),
      rank_(rank),
      timeout_(timeout),
      backend_name_(std::move(backend_name)),
      store_(std::move(store)),
      backend_(std::move(backend)) {}

std::shared_ptr<backends::Backend> GroupState::backend() const {
  std::lock_guard lock(mu_);
  return backend_;
}

bool GroupState::destroyed() const {
  std::lock_guard lock(mu_);
  return destroyed_;
}

std::shared_ptr<backends::Backend> GroupState::detach_backend() {
  std::lock_guard lock(mu_);
  destroyed_ = true;
  return std::move(backend_);
}

void GroupState::shutdown() {
  auto backend = detach_backend();
  if (!backend) return;
  try {
    backend->shutdown();
  } catch (const std::exception& e) {
    BATON_LOG_WARN(log::Subsys::kColl) << name_ << ": shutdown failed: " << e.what();
  }
}

}  // namespace detail

namespace {
const std::vector<int>& no_ranks() {
  static const std::vector<int> empty;
  return empty;
}
}  // namespace

Group::Group(std::shared_ptr<detail::GroupState> state) : state_(std::move(state)) {}

bool Group::is_member() const {
  return state_ && state_->is_member();
}

int Group::rank() const {
  return state_ ? state_->rank() : -1;
}

int Group::size() const {
  return state_ ? state_->size() : 0;
}

const std::vector<int>& Group::world_ranks() const {
  return state_ ? state_->world_ranks() : no_ranks();
}

std::string Group::backend() const {
  return state_ ? state_->backend_name() : std::string();
}

std::vector<std::string> Group::transports() const {
  if (!state_) return {};
  const auto backend = state_->backend();
  return backend ? backend->peer_transports() : std::vector<std::string>{};
}

void abort_process_group(const Group& group, const std::string& reason) {
  auto backend = api::check_group("abort_process_group", group);
  const std::string who = "rank " + std::to_string(group.rank()) + " aborted " +
                          group.state()->name() + " (abort_process_group)";
  backend->abort(
      std::make_exception_ptr(ConnectionError(reason.empty() ? who : who + ": " + reason)));
}

}  // namespace baton
