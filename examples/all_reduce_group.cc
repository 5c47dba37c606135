// all_reduce_group: the tutorial's all_reduce over a subgroup.
//
// Run it under the launcher with two (or more) ranks:
//
//   baton-run --standalone --nproc-per-node 2 ./all_reduce_group
//
// Every rank makes the group {0, 1} (new_group is called by every rank of
// the world, members or not, as in torch.distributed). The members each
// contribute ones(1) to an all_reduce with SUM, so both end up with 2.0 and
// print "Rank <r> has data 2.0". Ranks outside the group take no part.
#include <baton/baton.hpp>

#include <cstdio>

int main() {
  // Step 1: join the job (env://, set up by baton-run).
  baton::init_process_group();
  const int rank = baton::get_rank();

  // Step 2: make the group of world ranks 0 and 1. Every rank must call
  // new_group with the same list, even ranks that are not in it.
  baton::Group group = baton::new_group({0, 1});

  // Step 3: members sum a tensor of ones across the group. The call blocks
  // until every member has contributed, then each holds the sum.
  if (group.is_member()) {
    baton::Tensor tensor = baton::Tensor::ones({1});
    baton::all_reduce(tensor, baton::ReduceOp::SUM, group);

    // Step 4: print the result, as the tutorial does with tensor[0].
    std::printf("Rank %d has data %.1f\n", rank, tensor.item(0));
    std::fflush(stdout);
  }

  // Step 5: leave the job.
  baton::destroy_process_group();
  return 0;
}
