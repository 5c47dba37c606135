// JobSecret: the secret a launcher (baton-run, baton::spawn) hands its ranks
// (docs/security.md).
//
// In order: the file given on the command line (baton-run --secret-file;
// the ranks get BATON_SECRET_FILE and read it themselves), else a
// BATON_SECRET or BATON_SECRET_FILE the launcher inherited (passed on), else,
// when `generate` (one host: every rank is the launcher's child), a fresh
// random one handed as BATON_SECRET; else none, and the job runs
// unauthenticated. Every secret is checked here, so a bad one (a file others
// can read, a short text) stops the launch before any rank starts.
//
// Thread safety: free functions and a value type.
#pragma once

#include <string>

namespace baton::launch {

struct JobSecret {
  std::string text;    // handed as BATON_SECRET ("" when by file or none)
  std::string file;    // handed as BATON_SECRET_FILE, an absolute path ("" when none)
  std::string source;  // for messages: "generated", "--secret-file /p", "BATON_SECRET", ...
  bool empty() const { return text.empty() && file.empty(); }
  // The secret's text whichever way it is handed (reads the file): for a
  // launcher that serves the job's store itself.
  std::string resolve_text() const;
};

// Throws AuthenticationError for a secret that is set but unusable
// (auth/secret.hpp says which), including any secret when this build has
// no libcrypto; without libcrypto nothing is generated.
JobSecret choose_job_secret(const std::string& secret_file, bool generate);

}  // namespace baton::launch
