// Rank, world size and store address from the launcher's variables.
#include "rendezvous/env.hpp"

#include <cctype>
#include <charconv>
#include <utility>

#include "baton/error.hpp"
#include "core/config.hpp"

namespace baton::rendezvous {
namespace {

// One launcher's variables; local_size is null where the launcher sets none.
struct LauncherVars {
  const char* rank;
  const char* size;
  const char* local_rank;
  const char* local_size;
};

// Order matters: the first family that is set wins.
constexpr LauncherVars kLaunchers[] = {
    {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"},  // torchrun, baton-run, spawn
    {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE"},                                  // Open MPI
    {"PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"},  // MPICH / Hydra
    {"SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", nullptr},      // Slurm
};

// "RANK (or OMPI_COMM_WORLD_RANK, PMI_RANK, SLURM_PROCID)".
std::string alternatives(const char* LauncherVars::*field) {
  std::string text = kLaunchers[0].*field;
  text += " (or ";
  for (size_t i = 1; i < std::size(kLaunchers); ++i) {
    if (i > 1) text += ", ";
    text += kLaunchers[i].*field;
  }
  return text + ")";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// The value of an environment variable that must be a non-negative integer
// (min_value 0) or a positive one (min_value 1); nullopt when unset.
std::optional<int> read_count(const char* name, int min_value) {
  const std::optional<std::string> text = config::env(name);
  if (!text) return std::nullopt;
  const int value = parse_int(name, *text);
  if (value < min_value) {
    if (min_value == 0) {
      throw InvalidArgument(std::string(name) + "='" + *text + "' is negative");
    }
    throw InvalidArgument(std::string(name) + "='" + *text + "': the " +
                          (std::string_view(name).find("LOCAL") != std::string_view::npos
                               ? "local world size"
                               : "world size") +
                          " must be at least 1");
  }
  return value;
}

// The value of `name`, or nullopt when it is unset or blank.
std::optional<std::string> non_blank_env(const char* name) {
  std::optional<std::string> text = config::env(name);
  if (text && trim(*text).empty()) return std::nullopt;
  return text;
}

// A host named by `name`, without blanks or IPv6 brackets; throws when empty.
std::string parse_host(const char* name, const std::string& text) {
  std::string_view host = trim(text);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) throw InvalidArgument(std::string(name) + "='" + text + "' is empty");
  return std::string(host);
}

const LauncherVars* first_family_with(const char* LauncherVars::*field) {
  for (const LauncherVars& family : kLaunchers) {
    if (config::env(family.*field)) return &family;
  }
  return nullptr;
}

}  // namespace

int parse_int(std::string_view name, std::string_view text) {
  const std::string_view t = trim(text);
  int value = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size()) {
    std::string msg = std::string(name) + "='" + std::string(text) + "' is not an integer";
    if (ec == std::errc::result_out_of_range) msg += " in range";
    throw InvalidArgument(msg);
  }
  return value;
}

uint16_t parse_port(std::string_view name, std::string_view text) {
  const int value = parse_int(name, text);
  if (value < 1 || value > 65535) {
    throw InvalidArgument(std::string(name) + "='" + std::string(text) +
                          "' is out of range 1..65535");
  }
  return static_cast<uint16_t>(value);
}

RankAndSize discover_rank_and_size(int rank, int world_size, std::string_view method) {
  if (rank < -1) {
    throw InvalidArgument(
        "rank " + std::to_string(rank) +
        " is invalid: pass 0..world_size-1, or -1 to read it from the environment");
  }
  if (world_size == 0 || world_size < -1) {
    throw InvalidArgument("world_size " + std::to_string(world_size) +
                          " is invalid: the world size must be at least 1 (or -1 to read it from "
                          "the environment)");
  }
  RankAndSize out;
  const LauncherVars* rank_family = nullptr;
  if (rank >= 0) {
    out.rank = rank;
    out.rank_source = "the rank argument";
  } else {
    rank_family = first_family_with(&LauncherVars::rank);
    if (rank_family == nullptr) {
      throw InvalidArgument(std::string(method) + " needs " + alternatives(&LauncherVars::rank) +
                            "; none is set and no rank was passed");
    }
    out.rank = *read_count(rank_family->rank, 0);
    out.rank_source = rank_family->rank;
  }

  if (world_size >= 1) {
    out.world_size = world_size;
    out.size_source = "the world_size argument";
  } else if (rank_family != nullptr) {
    // Rank and world size from the environment come as a pair.
    const std::optional<int> size = read_count(rank_family->size, 1);
    if (!size) {
      throw InvalidArgument(std::string(method) + " found " + rank_family->rank + " but not " +
                            rank_family->size +
                            "; a launcher sets both (variables of different "
                            "launchers are not mixed)");
    }
    out.world_size = *size;
    out.size_source = rank_family->size;
  } else {
    const LauncherVars* family = first_family_with(&LauncherVars::size);
    if (family == nullptr) {
      throw InvalidArgument(std::string(method) + " needs " + alternatives(&LauncherVars::size) +
                            "; none is set and no world_size was passed");
    }
    out.world_size = *read_count(family->size, 1);
    out.size_source = family->size;
  }

  if (out.rank >= out.world_size) {
    throw InvalidArgument("rank " + std::to_string(out.rank) + " is out of range for world size " +
                          std::to_string(out.world_size) + " (rank from " + out.rank_source +
                          ", world size from " + out.size_source + "; expected 0.." +
                          std::to_string(out.world_size - 1) + ")");
  }

  if (rank_family != nullptr) {
    out.local_rank = read_count(rank_family->local_rank, 0);
    if (rank_family->local_size != nullptr) {
      out.local_world_size = read_count(rank_family->local_size, 1);
    }
    if (out.local_world_size && *out.local_world_size > out.world_size) {
      throw InvalidArgument(std::string(rank_family->local_size) + "=" +
                            std::to_string(*out.local_world_size) + " exceeds " + out.size_source +
                            "=" + std::to_string(out.world_size));
    }
    if (out.local_rank && out.local_world_size && *out.local_rank >= *out.local_world_size) {
      throw InvalidArgument(std::string(rank_family->local_rank) + "=" +
                            std::to_string(*out.local_rank) + " is out of range for " +
                            rank_family->local_size + "=" + std::to_string(*out.local_world_size));
    }
    if (out.local_rank && *out.local_rank > out.rank) {
      throw InvalidArgument(std::string(rank_family->local_rank) + "=" +
                            std::to_string(*out.local_rank) + " exceeds " + out.rank_source + "=" +
                            std::to_string(out.rank));
    }
  }
  return out;
}

MasterAddress master_address_from_env() {
  const std::optional<std::string> addr = config::env("MASTER_ADDR");
  if (!addr) {
    throw InvalidArgument(
        "env:// needs MASTER_ADDR (the address of the host whose rank 0 runs the store); it is "
        "not set");
  }
  std::string host = parse_host("MASTER_ADDR", *addr);
  const std::optional<std::string> port = config::env("MASTER_PORT");
  if (!port) {
    throw InvalidArgument("env:// needs MASTER_PORT (the port of rank 0's store); it is not set");
  }
  return {std::move(host), parse_port("MASTER_PORT", *port)};
}

StoreAddress store_address_from_env() {
  const std::optional<std::string> addr = non_blank_env("BATON_STORE_ADDR");
  const std::optional<std::string> port = non_blank_env("BATON_STORE_PORT");
  StoreAddress out;
  if (!addr || !port) {
    const MasterAddress master = master_address_from_env();
    out.host = master.host;
    out.port = master.port;
  }
  if (addr) out.host = parse_host("BATON_STORE_ADDR", *addr);
  if (port) out.port = parse_port("BATON_STORE_PORT", *port);
  out.description = std::string(addr ? "BATON_STORE_ADDR" : "MASTER_ADDR") + "='" + out.host +
                    "', " + (port ? "BATON_STORE_PORT" : "MASTER_PORT") + "=" +
                    std::to_string(out.port);
  return out;
}

}  // namespace baton::rendezvous
