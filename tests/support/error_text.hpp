// Test support: the text of an expected error.
//
// message_of<E>(fn) runs fn and returns the message of the E it throws,
// adding a GoogleTest failure (and returning "") when it throws nothing or
// something else; contains(text, part) is the usual substring test.
//
// Thread safety: as GoogleTest's assertions (any thread).
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <string>

namespace baton::testing {

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

template <class E, class Fn>
std::string message_of(Fn&& fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw another error: " << e.what();
    return "";
  }
  ADD_FAILURE() << "threw nothing";
  return "";
}

}  // namespace baton::testing
