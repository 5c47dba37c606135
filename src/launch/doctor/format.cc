// How the doctor writes: the table, its units and its rows' verdicts.
//
// The table has three columns, check, verdict and detail; the detail and the
// fix (led by "fix: ") are wrapped to kWidth columns under the detail
// column, so every line of a row stays aligned:
//
//   check           verdict  detail
//   master port     FAIL     port 29500 on 127.0.0.1 is in use: rank 0 cannot
//                            serve the store on it
//                            fix: stop what holds it, or choose another --master-port
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string_view>

#include "launch/doctor/checks.hpp"

namespace baton::launch {

std::string_view verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::kOk: return "ok";
    case Verdict::kWarn: return "warn";
    case Verdict::kFail: return "FAIL";
    case Verdict::kSkipped: return "skip";
  }
  return "?";
}

bool rows_pass(std::span<const DoctorRow> rows) {
  return std::none_of(rows.begin(), rows.end(),
                      [](const DoctorRow& r) { return r.verdict == Verdict::kFail; });
}

namespace {

constexpr size_t kWidth = 100;

// `text` in lines of at most `width` characters, broken at spaces (a longer
// word gets a line of its own).
std::vector<std::string> wrap(std::string_view text, size_t width) {
  std::vector<std::string> lines;
  std::string line;
  while (!text.empty()) {
    const size_t space = text.find(' ');
    const std::string_view word = text.substr(0, space);
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      lines.push_back(std::move(line));
      line.clear();
    }
    if (!line.empty()) line += ' ';
    line += word;
    text.remove_prefix(space == std::string_view::npos ? text.size() : space + 1);
  }
  if (!line.empty() || lines.empty()) lines.push_back(std::move(line));
  return lines;
}

}  // namespace

std::string format_table(std::span<const DoctorRow> rows) {
  size_t check_width = std::string_view("check").size();
  for (const DoctorRow& r : rows) check_width = std::max(check_width, r.check.size());
  const size_t verdict_width = std::string_view("verdict").size();
  const size_t indent = check_width + 2 + verdict_width + 2;
  const size_t detail_width = kWidth > indent + 30 ? kWidth - indent : 30;
  auto pad = [](std::string_view s, size_t width) {
    std::string out(s);
    out.resize(std::max(width, s.size()), ' ');
    return out;
  };
  std::string out = pad("check", check_width) + "  " + pad("verdict", verdict_width) + "  detail\n";
  int failed = 0;
  int warned = 0;
  for (const DoctorRow& r : rows) {
    failed += r.verdict == Verdict::kFail ? 1 : 0;
    warned += r.verdict == Verdict::kWarn ? 1 : 0;
    const std::string detail = r.verdict == Verdict::kSkipped ? "skipped: " + r.detail : r.detail;
    std::vector<std::string> lines = wrap(detail, detail_width);
    if (!r.fix.empty()) {
      for (std::string& l : wrap("fix: " + r.fix, detail_width)) lines.push_back(std::move(l));
    }
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i == 0) {
        out += pad(r.check, check_width) + "  " + pad(verdict_name(r.verdict), verdict_width) +
               "  " + lines[i] + "\n";
      } else {
        out += std::string(indent, ' ') + lines[i] + "\n";
      }
    }
  }
  auto count = [](int n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  out += count(failed, "check failed", "checks failed") + ", " +
         count(warned, "warning", "warnings") + ": " +
         (failed > 0 ? "the job would not run (exit 1)\n" : "the job would run (exit 0)\n");
  return out;
}

namespace doctor {

std::string format_bytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string format_rate(double bytes_per_second) {
  char text[32];
  if (bytes_per_second >= 1e9) {
    std::snprintf(text, sizeof text, "%.2f GB/s", bytes_per_second / 1e9);
  } else {
    std::snprintf(text, sizeof text, "%.0f MB/s", bytes_per_second / 1e6);
  }
  return text;
}

std::string format_latency(std::chrono::nanoseconds latency) {
  const double us = static_cast<double>(latency.count()) / 1e3;
  char text[32];
  if (us >= 1e6) {
    std::snprintf(text, sizeof text, "%.1f s", us / 1e6);
  } else if (us >= 1e3) {
    std::snprintf(text, sizeof text, "%.2f ms", us / 1e3);
  } else if (us >= 10) {
    std::snprintf(text, sizeof text, "%.1f us", us);
  } else {
    std::snprintf(text, sizeof text, "%.2f us", us);
  }
  return text;
}

DoctorRow ok(std::string check, std::string detail) {
  return DoctorRow{std::move(check), Verdict::kOk, std::move(detail), ""};
}
DoctorRow warn(std::string check, std::string detail, std::string fix) {
  return DoctorRow{std::move(check), Verdict::kWarn, std::move(detail), std::move(fix)};
}
DoctorRow fail(std::string check, std::string detail, std::string fix) {
  return DoctorRow{std::move(check), Verdict::kFail, std::move(detail), std::move(fix)};
}
DoctorRow skipped(std::string check, std::string why) {
  return DoctorRow{std::move(check), Verdict::kSkipped, std::move(why), ""};
}

}  // namespace doctor
}  // namespace baton::launch
