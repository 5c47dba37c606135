// A libFuzzer-free driver for the harnesses, for ctest (fuzz.<target>): runs
// every file of the seed corpus, then deterministic random mutations of them
// (bit flips, byte and integer overwrites, insertions, deletions, splices)
// until a count or a time budget runs out, whichever comes first.
//
//   <target>-replay [--mutations N] [--seconds S] [--seed X] <dir or file>...
//
// A failing input (the harness aborts, the process crashes, or a sanitizer
// reports, in a BATON_SANITIZE build) is written to ./fuzz-failure-<pid>.bin
// before the process dies, for replaying with the same binary or with the
// libFuzzer one (scripts/fuzz.sh).
//
// Thread safety: single-threaded.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Provided by the sanitizer runtimes when the build has one (BATON_SANITIZE):
// their reports end the process without a signal.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace {

// The input being run, for the signal handler.
const std::vector<uint8_t>* g_current = nullptr;
char g_failure_path[64];

void save_failure() {
  if (g_current != nullptr) {
    const int fd = ::open(g_failure_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      [[maybe_unused]] ssize_t n = ::write(fd, g_current->data(), g_current->size());
      ::close(fd);
      static constexpr char kMsg[] = "\nreplay: the failing input was written to ";
      n = ::write(2, kMsg, sizeof(kMsg) - 1);
      n = ::write(2, g_failure_path, std::strlen(g_failure_path));
      n = ::write(2, "\n", 1);
    }
    g_current = nullptr;
  }
}

void on_fatal(int sig) {
  save_failure();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void run(const std::vector<uint8_t>& input) {
  g_current = &input;
  // An empty vector's data() may be null; libFuzzer never passes null.
  static const uint8_t kEmpty = 0;
  LLVMFuzzerTestOneInput(input.empty() ? &kEmpty : input.data(), input.size());
  g_current = nullptr;
}

std::vector<uint8_t> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// One mutation of `in`, using `other` for splices.
std::vector<uint8_t> mutate(std::vector<uint8_t> in, const std::vector<uint8_t>& other,
                            std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  static constexpr uint64_t kInteresting[] = {
      0,       1,          0x7f,       0x80,       0xff,       0x100,      0x7fff, 0xffff,
      0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 1ull << 32, ~0ull >> 1, ~0ull};
  const int steps = 1 + static_cast<int>(pick(4));
  for (int s = 0; s < steps; ++s) {
    switch (pick(7)) {
      case 0:  // flip a bit
        if (!in.empty()) in[pick(in.size())] ^= static_cast<uint8_t>(1u << pick(8));
        break;
      case 1:  // overwrite a byte
        if (!in.empty()) in[pick(in.size())] = static_cast<uint8_t>(rng());
        break;
      case 2: {  // overwrite 1, 2, 4 or 8 bytes with an interesting integer
        if (in.empty()) break;
        const size_t width = size_t{1} << pick(4);
        const size_t at = pick(in.size());
        const uint64_t v = kInteresting[pick(std::size(kInteresting))];
        for (size_t i = 0; i < width && at + i < in.size(); ++i) {
          in[at + i] = static_cast<uint8_t>(v >> (8 * i));
        }
        break;
      }
      case 3: {  // insert random bytes
        const size_t at = in.empty() ? 0 : pick(in.size() + 1);
        const size_t n = 1 + pick(16);
        std::vector<uint8_t> bytes(n);
        for (auto& b : bytes) b = static_cast<uint8_t>(rng());
        in.insert(in.begin() + static_cast<std::ptrdiff_t>(at), bytes.begin(), bytes.end());
        break;
      }
      case 4: {  // delete a range
        if (in.empty()) break;
        const size_t at = pick(in.size());
        const size_t n = 1 + pick(std::min<size_t>(16, in.size() - at));
        in.erase(in.begin() + static_cast<std::ptrdiff_t>(at),
                 in.begin() + static_cast<std::ptrdiff_t>(at + n));
        break;
      }
      case 5:  // truncate
        if (!in.empty()) in.resize(pick(in.size()));
        break;
      case 6: {  // splice: our head, the other input's tail
        const size_t head = in.empty() ? 0 : pick(in.size() + 1);
        const size_t tail = other.empty() ? 0 : pick(other.size() + 1);
        in.resize(head);
        in.insert(in.end(), other.begin() + static_cast<std::ptrdiff_t>(tail), other.end());
        break;
      }
    }
  }
  if (in.size() > 1 << 16) in.resize(1 << 16);
  return in;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t mutations = 1000000;
  double seconds = 2.0;
  uint64_t seed = 0x6261746f6e;  // "baton"
  std::vector<std::filesystem::path> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--mutations" && i + 1 < argc) {
      mutations = std::stoull(argv[++i]);
    } else if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::stod(argv[++i]);
    } else if (arg == "--seed" && i + 1 < argc) {
      seed = std::stoull(argv[++i]);
    } else {
      paths.emplace_back(arg);
    }
  }
  std::snprintf(g_failure_path, sizeof(g_failure_path), "fuzz-failure-%d.bin",
                static_cast<int>(::getpid()));
  for (const int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, on_fatal);
  if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(save_failure);

  std::vector<std::vector<uint8_t>> corpus;
  for (const auto& p : paths) {
    if (std::filesystem::is_directory(p)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(p)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());  // the same order on every run
      for (const auto& f : files) corpus.push_back(read_file(f));
    } else {
      corpus.push_back(read_file(p));
    }
  }
  if (corpus.empty()) {
    std::fprintf(stderr, "replay: no inputs (pass a corpus directory or files)\n");
    return 2;
  }
  for (const auto& input : corpus) run(input);

  std::mt19937_64 rng(seed);
  const auto start = std::chrono::steady_clock::now();
  const auto budget = std::chrono::duration<double>(seconds);
  uint64_t done = 0;
  while (done < mutations) {
    if (done % 256 == 0 && std::chrono::steady_clock::now() - start > budget) break;
    const auto& a = corpus[rng() % corpus.size()];
    const auto& b = corpus[rng() % corpus.size()];
    run(mutate(a, b, rng));
    ++done;
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("replay: %zu corpus inputs, %llu mutations in %.2f s (seed %llu)\n", corpus.size(),
              static_cast<unsigned long long>(done), elapsed,
              static_cast<unsigned long long>(seed));
  return 0;
}
