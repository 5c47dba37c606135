// The doctor's checks of what this build holds: the backends (and whether
// BATON_BACKEND names one of them), job secrets (libcrypto, and whether the
// job's secret is usable), and CUDA (the GPUs the NVIDIA driver lists,
// against a build with no GPU backend).
//
// BATON_HAVE_PYTORCH is defined for this file when the PyTorch backend
// (python/baton_torch) is built with the library (src/launch/doctor/CMakeLists.txt).
#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "auth/secret.hpp"
#include "backends/registry.hpp"
#include "baton/error.hpp"
#include "core/config.hpp"
#include "launch/doctor/checks.hpp"

namespace baton::launch::doctor {
namespace {

#ifdef BATON_HAVE_PYTORCH
constexpr bool kPyTorchBackend = true;
#else
constexpr bool kPyTorchBackend = false;
#endif

DoctorRow backends_row() {
  const std::string name = "backends";
  std::string built;
  for (const std::string& b : backends::built_in_backends())
    built += (built.empty() ? "" : ", ") + b;
  std::string detail = "built in: " + built + "; PyTorch backend (torch.distributed \"baton\"): " +
                       (kPyTorchBackend ? "built" : "not built") + "; NCCL: not built";
  std::string requested;
  try {
    requested = config::get_string("BATON_BACKEND");
    if (requested != "auto") backends::check_backend_name(requested);
  } catch (const Error& e) {
    return fail(name, detail + "; BATON_BACKEND: " + e.what(),
                "unset BATON_BACKEND, or rebuild with the backend it names");
  }
  return ok(name,
            detail + "; BATON_BACKEND=" + requested + (requested == "auto" ? " (native)" : ""));
}

DoctorRow secret_row(const DoctorOptions& o) {
  const std::string name = "job secret";
  const bool crypto = auth::supported();
  const std::string lib = crypto ? "libcrypto built in" : "libcrypto not built";
  if (o.secret.empty()) {
    if (o.nnodes > 1) {
      return warn(name,
                  "none (" + lib + "): anyone who can reach " + o.master_addr + ":" +
                      std::to_string(o.master_port) +
                      " can read the job's store and join its groups",
                  "--secret-file PATH (mode 0600, the same file on every node; docs/security.md)");
    }
    return ok(name, "none (" + lib + (crypto ? "" : ": baton-run cannot make one") +
                        "); one node, connections stay on this host");
  }
  const std::string from = o.secret_source.empty() ? std::string("the job") : o.secret_source;
  if (!crypto) {
    return fail(name,
                "a secret is set (" + from +
                    ") but this build has no libcrypto: every connection would be refused",
                "rebuild with libssl-dev (-DBATON_WITH_OPENSSL=ON), or drop the secret");
  }
  try {
    const auto secret = auth::Secret::from_text(o.secret, from);
    return ok(name,
              "a secret (" + from + "), fingerprint " + secret->fingerprint() + " (" + lib + ")");
  } catch (const Error& e) {
    return fail(name, std::string("unusable: ") + e.what(),
                "a file of this user, mode 0600, of at least " +
                    std::to_string(auth::kMinSecretBytes) + " bytes (docs/security.md)");
  }
}

// "NVIDIA H100 80GB HBM3" from a GPU's information file, or "".
std::string gpu_model(const std::string& dir) {
  std::ifstream in(dir + "/information");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Model:", 0) == 0) {
      const size_t start = line.find_first_not_of(" \t", 6);
      return start == std::string::npos ? "" : line.substr(start);
    }
  }
  return "";
}

DoctorRow cuda_row(const DoctorOptions& o) {
  const std::string name = "cuda";
  DIR* dir = ::opendir(o.nvidia_gpus_dir.c_str());
  if (dir == nullptr) {
    return ok(name, "no NVIDIA GPUs listed (" + o.nvidia_gpus_dir +
                        " is absent); Baton's CUDA/NCCL backend: not built");
  }
  std::vector<std::string> models;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    models.push_back(gpu_model(o.nvidia_gpus_dir + "/" + entry->d_name));
  }
  ::closedir(dir);
  if (models.empty()) {
    return ok(name, "no NVIDIA GPUs listed in " + o.nvidia_gpus_dir +
                        "; Baton's CUDA/NCCL backend: not built");
  }
  const size_t count = models.size();
  std::sort(models.begin(), models.end());
  models.erase(std::unique(models.begin(), models.end()), models.end());
  std::string kinds;
  for (const std::string& m : models) {
    if (!m.empty()) kinds += (kinds.empty() ? " (" : ", ") + m;
  }
  if (!kinds.empty()) kinds += ")";
  return warn(name,
              std::to_string(count) + " NVIDIA " + (count == 1 ? "GPU" : "GPUs") + kinds +
                  " listed, but Baton's CUDA/NCCL backend is not built: tensors and collectives "
                  "stay on the CPU",
              "for GPU tensors run a torch.distributed script with backend \"nccl\" under "
              "baton-run; Baton's NCCL backend is planned");
}

}  // namespace

Rows build_checks(const DoctorOptions& options) {
  Rows rows;
  rows.push_back(backends_row());
  rows.push_back(secret_row(options));
  rows.push_back(cuda_row(options));
  return rows;
}

}  // namespace baton::launch::doctor
