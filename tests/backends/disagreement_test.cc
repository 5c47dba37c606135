// Ranks that disagree about a collective (which one, its dtype, count,
// reduce op, root or algorithm) get MismatchError on every rank, naming both
// sides, promptly: in the operation itself where the rank waits on a peer,
// and at the latest in its next operation on the group (a broadcast root
// that only sends returns before anyone can tell it otherwise). Every
// collective x every algorithm the backend's transport runs, each case in a
// job of its own (a divergence ends the group).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/backends/backend_suite.hpp"

namespace baton::testing {
namespace {

using Clock = std::chrono::steady_clock;

enum class Differ { kKind, kDType, kCount, kReduceOp, kRoot, kAlgorithm };

const char* differ_name(Differ d) {
  switch (d) {
    case Differ::kKind: return "kind";
    case Differ::kDType: return "dtype";
    case Differ::kCount: return "count";
    case Differ::kReduceOp: return "reduce op";
    case Differ::kRoot: return "root";
    case Differ::kAlgorithm: return "algorithm";
  }
  return "?";
}

struct Case {
  std::string collective;  // the public name: "all_reduce", ...
  std::string algorithm;   // BATON_ALGO_<collective> on rank 0 (and on all, unless kAlgorithm)
  Differ differ;
  std::string other;  // kAlgorithm: what the other ranks force
};

// What one rank runs: the last rank is the odd one out, except for roots
// (rank 0 says 0, the others 1: "(0, 1, 1)") and algorithms (rank 0 forces
// one, the others another).
struct View {
  std::string collective;
  DType dtype = DType::Float32;
  int64_t count = 5;
  ReduceOp op = ReduceOp::SUM;
  int root = 0;
};

View view_of(const Case& c, int rank, int n) {
  View v{.collective = c.collective};
  const bool odd = rank == n - 1;
  switch (c.differ) {
    case Differ::kKind:
      if (odd) v.collective = c.collective == "barrier" ? "all_reduce" : "barrier";
      break;
    case Differ::kDType:
      if (odd) v.dtype = DType::Int32;
      break;
    case Differ::kCount:
      if (odd) v.count = 6;
      break;
    case Differ::kReduceOp:
      if (odd) v.op = ReduceOp::MAX;
      break;
    case Differ::kRoot: v.root = rank == 0 ? 0 : 1; break;
    case Differ::kAlgorithm: break;
  }
  return v;
}

// What a message must say to name both sides.
std::vector<std::string> both_sides(const Case& c) {
  switch (c.differ) {
    case Differ::kKind: return {c.collective, c.collective == "barrier" ? "all_reduce" : "barrier"};
    case Differ::kDType: return {"float32", "int32"};
    case Differ::kCount:  // all_to_all carries no count (its tensors may differ): the sizes
      if (c.collective == "all_to_all") return {"20 bytes", "24 bytes"};
      return {"5 element", "6 element"};
    case Differ::kReduceOp: return {"SUM", "MAX"};
    case Differ::kRoot: return {"root 0", "root 1"};
    case Differ::kAlgorithm: return {c.algorithm, c.other};
  }
  return {};
}

void run_view(const View& v, int rank, int n) {
  const std::string& c = v.collective;
  Tensor t = Tensor::ones({v.count}, v.dtype);
  auto tensors = [&] {
    std::vector<Tensor> list;
    for (int i = 0; i < n; ++i) list.push_back(Tensor::ones({v.count}, v.dtype));
    return list;
  };
  if (c == "all_reduce") {
    all_reduce(t, v.op);
  } else if (c == "broadcast") {
    broadcast(t, v.root);
  } else if (c == "reduce") {
    reduce(t, v.root, v.op);
  } else if (c == "all_gather") {
    std::vector<Tensor> outs = tensors();
    all_gather(outs, t);
  } else if (c == "gather") {
    std::vector<Tensor> outs = rank == v.root ? tensors() : std::vector<Tensor>{};
    gather(t, outs, v.root);
  } else if (c == "scatter") {
    const std::vector<Tensor> ins = rank == v.root ? tensors() : std::vector<Tensor>{};
    scatter(t, ins, v.root);
  } else if (c == "reduce_scatter") {
    reduce_scatter(t, tensors(), v.op);
  } else if (c == "all_to_all") {
    std::vector<Tensor> outs = tensors();
    all_to_all(outs, tensors());
  } else if (c == "barrier") {
    barrier();
  } else {
    FAIL() << "no collective " << c;
  }
}

std::string variable_of(const std::string& collective) {
  std::string v = "BATON_ALGO_";
  for (char ch : collective) v += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return v;
}

std::string env_of(const BackendParam& param, const std::string& name) {
  for (const auto& [k, v] : param.env) {
    if (k == name) return v;
  }
  return "";
}

// The algorithms the param's transport runs `collective` with on n ranks.
std::vector<std::string> algorithms(const BackendParam& param, int n,
                                    const std::string& collective) {
  const bool shared = env_of(param, "BATON_TRANSPORT") != "tcp" &&
                      env_of(param, "BATON_SHM_AREA_BYTES") != "0" && param.ranks_per_host == 0;
  const bool hierarchical = param.ranks_per_host > 0 && n > param.ranks_per_host;
  std::vector<std::string> out;
  if (collective == "all_reduce") out = {"ring", "recursive_doubling"};
  if (collective == "broadcast" || collective == "reduce") out = {"binomial_tree"};
  if (collective == "all_gather" || collective == "reduce_scatter") out = {"ring"};
  if (collective == "gather" || collective == "scatter") out = {"direct"};
  if (collective == "all_to_all") out = {"pairwise"};
  if (collective == "barrier") out = {"dissemination"};
  const bool area_capable =
      collective != "gather" && collective != "scatter" && collective != "all_to_all";
  if (shared && area_capable) out.push_back("shared_memory");
  if (hierarchical && collective == "all_reduce") out.push_back("hierarchical");
  return out;
}

// Every collective x algorithm x what can differ for it, and for each pair
// of algorithms of a collective, ranks forcing different ones.
std::vector<Case> cases(const BackendParam& param, int n) {
  std::vector<Case> out;
  for (const std::string c : {"all_reduce", "broadcast", "reduce", "all_gather", "gather",
                              "scatter", "reduce_scatter", "all_to_all", "barrier"}) {
    std::vector<Differ> kinds = {Differ::kKind};
    if (c != "barrier") {
      kinds.push_back(Differ::kDType);
      kinds.push_back(Differ::kCount);
    }
    if (c == "all_reduce" || c == "reduce" || c == "reduce_scatter") {
      kinds.push_back(Differ::kReduceOp);
    }
    if (c == "broadcast" || c == "reduce" || c == "gather" || c == "scatter") {
      kinds.push_back(Differ::kRoot);
    }
    const auto algos = algorithms(param, n, c);
    for (const std::string& a : algos) {
      for (Differ d : kinds) out.push_back({c, a, d, ""});
    }
    for (size_t i = 0; i + 1 < algos.size(); ++i) {
      out.push_back({c, algos[i], Differ::kAlgorithm, algos[i + 1]});
    }
  }
  return out;
}

}  // namespace

// Each case: every rank joins a job, runs its view of the collective and,
// if that returned, a barrier; one of the two must throw MismatchError naming
// both sides, well before the group's timeout.
TEST_P(BackendSuite, DisagreementsAreMismatchErrorsOnEveryRank) {
  if (world_size() != 2 && world_size() != 3) GTEST_SKIP() << "sampled world sizes: 2, 3";
  if (param().ranks_per_host > 0 && world_size() <= param().ranks_per_host) {
    GTEST_SKIP() << "one host: the shm instances cover it";
  }
  const std::vector<Case> all = cases(param(), world_size());
  run_plain(
      world_size(),
      [&](int rank, int n) {
        for (const Case& c : all) {
          const std::string variable = variable_of(c.collective);
          const std::string algo =
              c.differ == Differ::kAlgorithm && rank != 0 ? c.other : c.algorithm;
          ::setenv(variable.c_str(), algo.c_str(), 1);
          const View v = view_of(c, rank, n);
          // The odd rank of a kind case runs another collective: force its
          // algorithm to the default.
          if (v.collective != c.collective) ::unsetenv(variable.c_str());
          const std::string label = c.collective + " (" + c.algorithm + ") with another " +
                                    differ_name(c.differ) + " on rank " + std::to_string(rank);
          init_process_group(init_options(rank, n));
          const auto start = Clock::now();
          std::string caught;
          try {
            run_view(v, rank, n);
            barrier();
            ADD_FAILURE() << label << ": no error in the operation or the barrier after it";
          } catch (const MismatchError& e) {
            caught = e.what();
          } catch (const std::exception& e) {
            ADD_FAILURE() << label << ": " << e.what() << " (expected MismatchError)";
          }
          const auto took = Clock::now() - start;
          EXPECT_LT(took, std::chrono::seconds(5)) << label << ": the error took that long";
          for (const std::string& side : both_sides(c)) {
            if (caught.empty()) break;
            EXPECT_NE(caught.find(side), std::string::npos)
                << label << ": the error does not name \"" << side << "\": " << caught;
          }
          destroy_process_group();
          ::unsetenv(variable.c_str());
        }
      },
      std::chrono::seconds(170));
}

}  // namespace baton::testing
