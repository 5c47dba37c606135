// Rank, world size and store address discovery from the environment.
//
// Launchers announce each process's place in the job through environment
// variables. env:// (and tcp:// and file:// for what their URL does not say)
// reads them; the first family that is set wins:
//
//   torchrun, baton-run:  RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE
//   Open MPI mpirun:      OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE,
//                         OMPI_COMM_WORLD_LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_SIZE
//   MPICH (Hydra):        PMI_RANK, PMI_SIZE, MPI_LOCALRANKID, MPI_LOCALNRANKS
//   Slurm srun:           SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID (local size derived)
//
// Values passed explicitly (the Request, or "?rank=" in the URL) win over the
// environment. When both rank and world size come from the environment they
// come from the same family: RANK is never paired with SLURM_NTASKS. Local
// values are read only from the family that gave the rank.
//
// Thread safety: reads the environment at each call; safe from any thread as
// long as nobody calls setenv concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace baton::rendezvous {

struct RankAndSize {
  int rank = 0;
  int world_size = 1;
  std::string rank_source;  // "RANK", "OMPI_COMM_WORLD_RANK", "the rank argument", ...
  std::string size_source;  // "WORLD_SIZE", ..., "the world_size argument"
  // From the launcher's variables when it set them; otherwise the rendezvous
  // derives them from the host identities.
  std::optional<int> local_rank;
  std::optional<int> local_world_size;
};

// Resolves rank and world size: explicit values (>= 0 for rank, >= 1 for
// world size) win, -1 means "from the environment". `method` names the init
// method in messages ("env://"). Does not block. Throws InvalidArgument:
//   "env:// needs RANK (or OMPI_COMM_WORLD_RANK, PMI_RANK, SLURM_PROCID); none is set"
//   "RANK='abc' is not an integer", "WORLD_SIZE='0': the world size must be at least 1",
//   "rank 4 is out of range for world size 4 (...)", "rank -2 is invalid (...)",
//   and for a family with only one of its pair set, naming the missing one.
RankAndSize discover_rank_and_size(int rank, int world_size, std::string_view method);

struct MasterAddress {
  std::string host;  // without brackets
  uint16_t port = 0;
};

// MASTER_ADDR and MASTER_PORT. Does not block. Throws InvalidArgument naming
// the missing, empty or malformed variable (MASTER_PORT must be an integer in
// 1..65535).
MasterAddress master_address_from_env();

struct StoreAddress {
  std::string host;  // without brackets
  uint16_t port = 0;
  // Where it came from, for messages: "MASTER_ADDR='node7', MASTER_PORT=29500"
  // or "BATON_STORE_ADDR='127.0.0.1', BATON_STORE_PORT=40123".
  std::string description;
};

// The address of the job's Baton TcpStore for env://: BATON_STORE_ADDR and
// BATON_STORE_PORT where set (and not blank), each falling back to
// MASTER_ADDR or MASTER_PORT. baton-run --standalone sets them to its own
// store and leaves MASTER_PORT free for a torch.distributed rank 0, which
// binds it itself. Does not block. Throws InvalidArgument as
// master_address_from_env does, naming the variable that was read.
StoreAddress store_address_from_env();

// Parses a decimal integer named `name` ("RANK"): surrounding blanks are
// ignored; anything else that is not an int is an InvalidArgument
// "RANK='abc' is not an integer".
int parse_int(std::string_view name, std::string_view text);

// Parses a TCP port named `name`: an integer in 1..65535, otherwise an
// InvalidArgument "MASTER_PORT='0' is out of range 1..65535".
uint16_t parse_port(std::string_view name, std::string_view text);

}  // namespace baton::rendezvous
