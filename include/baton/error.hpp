// Baton's error hierarchy.
//
// Every failure that reaches a caller is a baton::Error (a std::runtime_error)
// carrying an ErrorCode; the subclasses below let callers catch one kind.
// Messages name the rank, the operation, what was expected and what was given.
// On asynchronous paths errors travel as std::exception_ptr and are rethrown
// by Work::wait().
//
// Thread safety: these are plain value types.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>

namespace baton {

enum class ErrorCode {
  kInternal,         // a bug in Baton: an invariant did not hold
  kInvalidArgument,  // the caller passed something wrong; nothing was sent
  kTimeout,          // an operation did not complete within its timeout
  kConnection,       // a peer or server closed, refused or broke a connection
  kMismatch,         // ranks disagree about an operation (kind, size, dtype)
  kProtocol,         // a peer sent bytes that are not Baton's protocol
  kIo,               // a file or OS resource failed (open, map, lock)
  kUnsupported,      // asked for something this build or backend cannot do
  kAuthentication,   // a peer or server did not prove the job secret, or this process lacks it
};
// The highest ErrorCode (codes travel on the wire; a larger one is unknown).
inline constexpr ErrorCode kLastErrorCode = ErrorCode::kAuthentication;

std::string_view error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  explicit Error(const std::string& message) : Error(ErrorCode::kInternal, message) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

class InvalidArgument : public Error {
 public:
  explicit InvalidArgument(const std::string& m) : Error(ErrorCode::kInvalidArgument, m) {}
};
class TimeoutError : public Error {
 public:
  explicit TimeoutError(const std::string& m) : Error(ErrorCode::kTimeout, m) {}
};
class ConnectionError : public Error {
 public:
  explicit ConnectionError(const std::string& m) : Error(ErrorCode::kConnection, m) {}
};
class MismatchError : public Error {
 public:
  explicit MismatchError(const std::string& m) : Error(ErrorCode::kMismatch, m) {}
};
class ProtocolError : public Error {
 public:
  explicit ProtocolError(const std::string& m) : Error(ErrorCode::kProtocol, m) {}
};
class IoError : public Error {
 public:
  explicit IoError(const std::string& m) : Error(ErrorCode::kIo, m) {}
};
class UnsupportedError : public Error {
 public:
  explicit UnsupportedError(const std::string& m) : Error(ErrorCode::kUnsupported, m) {}
};
// A connection was refused because one side could not prove the job secret
// (docs/security.md), or a secret is configured wrongly (a file others can
// read, too short). Nothing was read or written on such a connection.
class AuthenticationError : public Error {
 public:
  explicit AuthenticationError(const std::string& m) : Error(ErrorCode::kAuthentication, m) {}
};

// An exception of the subclass that `code` names, carrying `message`
// (baton::Error itself for kInternal or a code outside the enum).
std::exception_ptr make_error(ErrorCode code, const std::string& message);

// The message of the exception in `error` ("unknown error" for one that is
// not a std::exception, "" for nullptr); for logs and for errors that wrap others.
std::string error_message(const std::exception_ptr& error);
// The code of a baton::Error in `error`; kInternal for any other exception.
ErrorCode error_code(const std::exception_ptr& error);

}  // namespace baton
