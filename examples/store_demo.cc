// store_demo: ranks that find each other through a TcpStore.
//
// Run it under the launcher, which starts the ranks and tells each one who it
// is through the environment:
//
//   baton-run --standalone --nproc-per-node 4 ./store_demo
//
// Every rank connects to the key-value store at MASTER_ADDR:MASTER_PORT, or
// at BATON_STORE_ADDR:BATON_STORE_PORT where the launcher serves its own
// (rank 0 hosts it, unless the launcher already does), announces itself, and
// waits until all ranks have done so. This is the rendezvous that every
// Baton job starts with, written out by hand.
#include <baton/baton.hpp>
#include <baton/tcp_store.hpp>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

namespace {

std::string require_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) {
    std::cerr << "store_demo: " << name << " is not set; start me with baton-run\n";
    std::exit(2);
  }
  return value;
}

}  // namespace

int main() {
  // Step 1: who am I? The launcher sets these variables for each rank.
  const int rank = std::stoi(require_env("RANK"));
  const int world_size = std::stoi(require_env("WORLD_SIZE"));
  // baton-run --standalone names its own store BATON_STORE_ADDR:BATON_STORE_PORT,
  // leaving MASTER_PORT to a torch.distributed rank 0; elsewhere use MASTER_*.
  const bool launcher_store = std::getenv("BATON_STORE_PORT") != nullptr;
  const std::string host = require_env(launcher_store ? "BATON_STORE_ADDR" : "MASTER_ADDR");
  const auto port = static_cast<uint16_t>(
      std::stoi(require_env(launcher_store ? "BATON_STORE_PORT" : "MASTER_PORT")));

  // Step 2: reach the store. Rank 0 hosts the server, as in torch.distributed,
  // unless the launcher already hosts one (BATON_AGENT_STORE=1).
  const char* agent = std::getenv("BATON_AGENT_STORE");
  const bool host_store = rank == 0 && !(agent != nullptr && std::string(agent) == "1");
  baton::TcpStore store(host, port, {.is_server = host_store, .timeout = std::chrono::seconds(30)});

  // Step 3: announce ourselves and count arrivals with an atomic counter.
  store.set("demo/rank/" + std::to_string(rank), "hello from rank " + std::to_string(rank));
  const int64_t arrived = store.add("demo/arrived", 1);

  // Step 4: wait until every rank has announced itself, then read a neighbour's key.
  std::vector<std::string> keys;
  for (int r = 0; r < world_size; ++r) keys.push_back("demo/rank/" + std::to_string(r));
  store.wait(keys);
  const int right = (rank + 1) % world_size;
  std::cout << "Rank " << rank << " of " << world_size << " (arrived " << arrived << "): rank "
            << right << " says '" << store.get_string(keys[right]) << "'\n";

  // Step 5: leave together, so rank 0's server outlives everyone's last request.
  store.set("demo/done/" + std::to_string(rank), "1");
  if (host_store) {
    std::vector<std::string> done;
    for (int r = 0; r < world_size; ++r) done.push_back("demo/done/" + std::to_string(r));
    store.wait(done);
  }
  return 0;
}
