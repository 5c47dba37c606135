// JobLayout: where each rank of a job sits, and the environment it is given.
//
// A job is nnodes launchers (one per machine), each starting nproc_per_node
// ranks. Rank numbers are static, as torchrun's static rendezvous: the ranks
// of node n are n * nproc_per_node ... (n + 1) * nproc_per_node - 1. Every
// rank gets:
//   - what env:// rendezvous reads: RANK, WORLD_SIZE, MASTER_ADDR,
//     MASTER_PORT, and BATON_STORE_ADDR, BATON_STORE_PORT, the address of
//     the job's Baton store (the launcher's own when it serves one, else
//     MASTER_ADDR:MASTER_PORT, where rank 0 serves it);
//   - BATON_AGENT_STORE: 1 when the launcher serves that store, so that rank
//     0 connects to it instead of serving it; 0 otherwise, so that a value
//     inherited from an outer job never leaks in;
//   - BATON_JOB_ID, the same for every rank of the job, or empty, when the
//     ranks' rendezvous makes one up (several nodes without --rdzv-id:
//     independent launchers cannot agree on a random one, and an id derived
//     from the address would be guessable and shared by every job there);
//   - BATON_SECRET or BATON_SECRET_FILE, the job secret (job_secret.hpp),
//     the other set to "" so nothing inherited leaks in;
//   - BATON_FLIGHT_DIR, where ranks write their flight records when a group
//     fails (backends/flight_recorder.hpp), when the launcher collects them;
//   - what torchrun's agent also sets, for torch.distributed scripts:
//     LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, GROUP_WORLD_SIZE, ROLE_NAME
//     ("default"), ROLE_RANK, ROLE_WORLD_SIZE (one role: the global rank and
//     world size), TORCHELASTIC_RUN_ID (the job id),
//     TORCHELASTIC_USE_AGENT_STORE ("False": torch's rank 0 binds
//     MASTER_PORT itself; the launcher's store speaks Baton's protocol, not
//     torch's), and the restart count of this attempt,
//     TORCHELASTIC_RESTART_COUNT, TORCHELASTIC_MAX_RESTARTS (and Baton's
//     BATON_RESTART_COUNT); 0 and 0 when nothing restarts.
//
// Thread safety: free functions and a value type; safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::launch {

using EnvList = std::vector<std::pair<std::string, std::string>>;

struct JobLayout {
  int nnodes = 1;
  int node_rank = 0;
  int nproc_per_node = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string job_id;         // "": the rendezvous makes one up
  std::string secret{};       // handed as BATON_SECRET ("" when none or by file)
  std::string secret_file{};  // handed as BATON_SECRET_FILE ("" when none)
  std::string flight_dir{};   // handed as BATON_FLIGHT_DIR ("": not set)
  // The job's Baton TcpStore; empty and 0: MASTER_ADDR and MASTER_PORT.
  std::string store_addr;
  int store_port = 0;
  bool agent_store = false;  // the launcher serves that store (rank 0 must not)
  int restart_count = 0;     // this attempt: 0 for the first start, n after n restarts
  int max_restarts = 0;      // restarts allowed after a failure (baton-run --max-restarts)

  int world_size() const { return nnodes * nproc_per_node; }
  int global_rank(int local_rank) const { return node_rank * nproc_per_node + local_rank; }
};

// Checks the layout (counts >= 1, node_rank in range, master port in
// 1..65535, store port in 0..65535, a master address, 0 <=
// restart_count <= max_restarts); throws InvalidArgument naming the field.
void validate(const JobLayout& layout);

// The variables set for the rank with this local rank, in a fixed order.
EnvList rank_environment(const JobLayout& layout, int local_rank);

// A TCP port that is free on `address` right now: binds port 0 there, reads
// the port the kernel chose and closes the socket. Another process may take
// the port before the job binds it; the window is short. Does not block.
// Throws ConnectionError naming the address when it cannot be bound (not an
// address of this host) or resolved.
int find_free_port(const std::string& address);

}  // namespace baton::launch
