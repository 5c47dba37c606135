// p2p_nonblocking: the tutorial's non-blocking point-to-point exchange.
//
// Run it under the launcher with two ranks:
//
//   baton-run --standalone --nproc-per-node 2 ./p2p_nonblocking
//
// The same exchange as p2p_blocking, but isend() and irecv() return at once
// with a Work handle. Until Work::wait() returns, the sender must not write
// the tensor and the receiver must not read it: the transfer may still be in
// flight. After wait() both ranks hold 1.0.
#include <baton/baton.hpp>

#include <cstdio>

int main() {
  // Step 1: join the job (env://, set up by baton-run).
  baton::init_process_group();
  const int rank = baton::get_rank();

  // Step 2: every rank starts from a one-element zero tensor.
  baton::Tensor tensor = baton::Tensor::zeros({1});

  // Step 3: start the transfer. Both calls return before the data has moved;
  // the Work they return is the only way to know when it has.
  baton::Work request;
  if (rank == 0) {
    tensor += baton::Tensor::ones({1});
    request = baton::isend(tensor, /*dst=*/1);
    std::printf("Rank 0 started sending\n");
  } else if (rank == 1) {
    request = baton::irecv(tensor, /*src=*/0);
    std::printf("Rank 1 started receiving\n");
  }
  std::fflush(stdout);

  // Step 4: wait for completion. Only now may rank 0 reuse the tensor and
  // rank 1 read it. (A default Work, on other ranks, is already complete.)
  request.wait();

  // Step 5: print the first element, as the tutorial does.
  std::printf("Rank %d has data %.1f\n", rank, tensor.item(0));
  std::fflush(stdout);

  // Step 6: leave the job.
  baton::destroy_process_group();
  return 0;
}
