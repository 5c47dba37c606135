// choose_job_secret; see job_secret.hpp.
#include "launch/job_secret.hpp"

#include <filesystem>

#include "auth/secret.hpp"
#include "core/config.hpp"

namespace baton::launch {

std::string JobSecret::resolve_text() const {
  if (!file.empty()) return auth::read_secret_file(file);
  return text;
}

JobSecret choose_job_secret(const std::string& secret_file, bool generate) {
  JobSecret out;
  if (!secret_file.empty()) {
    out.file = std::filesystem::absolute(secret_file).string();
    out.source = "--secret-file " + out.file;
    auth::Secret::from_file(out.file);  // checks mode, owner, length
    return out;
  }
  if (const auto text = config::env("BATON_SECRET"); text && !text->empty()) {
    auth::Secret::from_text(*text, "BATON_SECRET");
    out.text = *text;
    out.source = "BATON_SECRET";
    return out;
  }
  if (const auto path = config::env("BATON_SECRET_FILE"); path && !path->empty()) {
    out.file = std::filesystem::absolute(*path).string();
    out.source = "BATON_SECRET_FILE " + out.file;
    auth::Secret::from_file(out.file);
    return out;
  }
  if (generate && auth::supported()) {
    out.text = auth::generate_secret_text();
    out.source = "generated";
  }
  return out;
}

}  // namespace baton::launch
