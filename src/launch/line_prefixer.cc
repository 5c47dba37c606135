// Cutting a stream into prefixed lines.
#include "launch/line_prefixer.hpp"

#include <algorithm>
#include <utility>

namespace baton::launch {

LinePrefixer::LinePrefixer(std::string prefix, size_t max_line)
    : prefix_(std::move(prefix)), max_line_(std::max<size_t>(max_line, 1)) {}

void LinePrefixer::emit(std::string_view line, std::string& out) const {
  out.append(prefix_);
  out.append(line);
  out.push_back('\n');
}

void LinePrefixer::feed(std::string_view data, std::string& out) {
  while (!data.empty()) {
    const size_t newline = data.find('\n');
    const size_t room = max_line_ - partial_.size();  // partial_ is always < max_line_
    if (newline != std::string_view::npos && newline <= room) {
      // A whole line: the saved tail plus data up to the newline.
      if (partial_.empty()) {
        emit(data.substr(0, newline), out);
      } else {
        partial_.append(data.substr(0, newline));
        emit(partial_, out);
        partial_.clear();
      }
      data.remove_prefix(newline + 1);
    } else if (data.size() < room) {
      partial_.append(data);  // no newline yet, and still short: keep it
      return;
    } else {
      // The line reaches max_line_ before its newline: emit a full piece.
      partial_.append(data.substr(0, room));
      emit(partial_, out);
      partial_.clear();
      data.remove_prefix(room);
    }
  }
}

void LinePrefixer::finish(std::string& out) {
  if (partial_.empty()) return;
  emit(partial_, out);
  partial_.clear();
}

}  // namespace baton::launch
