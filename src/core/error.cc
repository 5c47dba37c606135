#include "baton/error.hpp"

namespace baton {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInternal: return "internal";
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kConnection: return "connection";
    case ErrorCode::kMismatch: return "mismatch";
    case ErrorCode::kProtocol: return "protocol";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kUnsupported: return "unsupported";
  }
  return "unknown";
}

std::string error_message(const std::exception_ptr& error) {
  if (!error) return "";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

ErrorCode error_code(const std::exception_ptr& error) {
  if (!error) return ErrorCode::kInternal;
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return e.code();
  } catch (...) {
    return ErrorCode::kInternal;
  }
}

}  // namespace baton
