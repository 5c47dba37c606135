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
    case ErrorCode::kAuthentication: return "authentication";
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

std::exception_ptr make_error(ErrorCode code, const std::string& message) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return std::make_exception_ptr(InvalidArgument(message));
    case ErrorCode::kTimeout: return std::make_exception_ptr(TimeoutError(message));
    case ErrorCode::kConnection: return std::make_exception_ptr(ConnectionError(message));
    case ErrorCode::kMismatch: return std::make_exception_ptr(MismatchError(message));
    case ErrorCode::kProtocol: return std::make_exception_ptr(ProtocolError(message));
    case ErrorCode::kIo: return std::make_exception_ptr(IoError(message));
    case ErrorCode::kUnsupported: return std::make_exception_ptr(UnsupportedError(message));
    case ErrorCode::kAuthentication: return std::make_exception_ptr(AuthenticationError(message));
    case ErrorCode::kInternal: break;
  }
  return std::make_exception_ptr(Error(ErrorCode::kInternal, message));
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
