// p2p_blocking: the tutorial's blocking point-to-point exchange.
//
// Run it under the launcher with two ranks:
//
//   baton-run --standalone --nproc-per-node 2 ./p2p_blocking
//
// Rank 0 starts from a zero tensor, adds 1 to it and sends it to rank 1.
// Rank 1 receives into a tensor it allocated itself. send() returns once the
// tensor may be reused; recv() returns once the data has landed. Both ranks
// then print the first element: "Rank <r> has data 1.0". With more than two
// ranks, the others only print the zero they started with.
#include <baton/baton.hpp>

#include <cstdio>

int main() {
  // Step 1: join the job. With no arguments the rank, world size and the
  // store's address come from the environment baton-run sets (env://).
  baton::init_process_group();
  const int rank = baton::get_rank();

  // Step 2: every rank starts from a one-element zero tensor.
  baton::Tensor tensor = baton::Tensor::zeros({1});

  // Step 3: rank 0 adds 1 and sends the tensor to rank 1; rank 1 receives
  // into its own memory. Both calls block until they are done with the tensor.
  if (rank == 0) {
    tensor += baton::Tensor::ones({1});
    baton::send(tensor, /*dst=*/1);
  } else if (rank == 1) {
    baton::recv(tensor, /*src=*/0);
  }

  // Step 4: print what each rank holds now, as the tutorial does with tensor[0].
  std::printf("Rank %d has data %.1f\n", rank, tensor.item(0));
  std::fflush(stdout);

  // Step 5: leave the job.
  baton::destroy_process_group();
  return 0;
}
