// LinePrefixer: cuts one output stream into lines and puts a prefix on each.
//
// The launcher reads each rank's stdout and stderr through a pipe, in chunks
// that end anywhere. A LinePrefixer keeps the unfinished tail of the last
// chunk and appends only whole lines, each led by the prefix ("[2] "), to the
// caller's buffer, so that a line is always written out in one piece. A line
// longer than max_line is cut into pieces of max_line bytes, each prefixed,
// so memory stays bounded whatever a rank prints. finish() flushes a last
// line that has no newline, adding one.
//
// Thread safety: none; one LinePrefixer per stream, used by one thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace baton::launch {

class LinePrefixer {
 public:
  static constexpr size_t kDefaultMaxLine = size_t{64} * 1024;

  explicit LinePrefixer(std::string prefix, size_t max_line = kDefaultMaxLine);

  // Appends every line completed by `data` to `out`, each with the prefix.
  void feed(std::string_view data, std::string& out);
  // Appends the unfinished last line, if any, with the prefix and a newline.
  void finish(std::string& out);

  bool has_partial() const { return !partial_.empty(); }

 private:
  void emit(std::string_view line, std::string& out) const;

  std::string prefix_;
  size_t max_line_;
  std::string partial_;  // bytes after the last newline seen
};

}  // namespace baton::launch
