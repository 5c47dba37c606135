// Errors with the operation and the torch group in front (see error_context.hpp).
#include "error_context.hpp"

#include <string_view>

#include "baton/error.hpp"

namespace baton_torch {
namespace {

std::string join(const std::vector<int64_t>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(values[i]);
  }
  return out;
}

std::exception_ptr same_kind(const baton::Error& e, const std::string& message) {
  return baton::make_error(e.code(), message);
}

}  // namespace

ErrorContext::ErrorContext(std::string group_name, const std::vector<int64_t>& global_ranks)
    : group_name_(std::move(group_name)), where_(group_name_) {
  bool identity = true;
  for (size_t i = 0; i < global_ranks.size(); ++i) {
    identity = identity && global_ranks[i] == static_cast<int64_t>(i);
  }
  if (!identity) {
    std::vector<int64_t> group_ranks(global_ranks.size());
    for (size_t i = 0; i < group_ranks.size(); ++i) group_ranks[i] = static_cast<int64_t>(i);
    where_ += " (group ranks " + join(group_ranks) + " are world ranks " + join(global_ranks) + ")";
  }
}

std::exception_ptr ErrorContext::wrap(const std::exception_ptr& error, const char* op) const {
  if (!error) return error;
  const std::string prefix = "baton: " + std::string(op) + " on " + where_ + ": ";
  try {
    std::rethrow_exception(error);
  } catch (const baton::Error& e) {
    std::string_view what = e.what();
    if (what.starts_with("baton: ")) what.remove_prefix(7);  // our own checks say it already
    return same_kind(e, prefix + std::string(what));
  } catch (const std::exception& e) {
    return std::make_exception_ptr(std::runtime_error(prefix + e.what()));
  } catch (...) {
    return error;
  }
}

}  // namespace baton_torch
