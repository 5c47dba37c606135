// Errors as Python sees them: Baton's message, prefixed with the operation
// and the torch group, and the world ranks behind the group ranks when they
// differ (a subgroup's messages otherwise say "rank 0" for world rank 1):
//   "baton: all_reduce on torch group 3 (group ranks 0, 1 are world ranks
//    1, 2): rank 0 runs all_reduce #1 (float32, 4 elements, ...) but ..."
// The exception keeps its baton::Error subclass (Python: RuntimeError).
//
// Thread safety: immutable after construction; use from any thread.
#pragma once

#include <exception>
#include <string>
#include <vector>

namespace baton_torch {

class ErrorContext {
 public:
  ErrorContext(std::string group_name, const std::vector<int64_t>& global_ranks);

  // error with "baton: <op> on <group>: " in front of its message; an error
  // that is not a std::exception comes back as it was.
  std::exception_ptr wrap(const std::exception_ptr& error, const char* op) const;
  // Runs fn(); rethrows what it throws through wrap().
  template <class Fn>
  auto call(const char* op, Fn&& fn) const {
    try {
      return fn();
    } catch (...) {
      std::rethrow_exception(wrap(std::current_exception(), op));
    }
  }

  const std::string& group_name() const { return group_name_; }

 private:
  std::string group_name_;
  std::string where_;  // "torch group 3 (group ranks 0, 1 are world ranks 1, 2)"
};

}  // namespace baton_torch
