// ring_allreduce: the tutorial's hand-written ring allreduce, twice.
//
// Run it under the launcher with three or more ranks:
//
//   baton-run --standalone --nproc-per-node 4 ./ring_allreduce [elements]
//
// The ranks form a ring: each sends to its right neighbour (rank + 1) and
// receives from its left one (rank - 1), using only isend and recv.
//
// The naive ring passes whole tensors around: in each of size - 1 steps a
// rank forwards the tensor it received last and adds what arrives to its
// running sum. It is simple, but every rank sends (N - 1) times the data.
//
// The chunked ring, the tutorial's exercise (the scheme of Baidu's
// DeepSpeech allreduce), cuts the tensor into N chunks. In a reduce-scatter
// phase of N - 1 steps each rank sends one chunk and adds the chunk it
// receives, so that afterwards rank r owns the full sum of chunk r + 1; an
// all-gather phase of N - 1 more steps passes the finished chunks around.
// Each rank then sends 2(N - 1)/N of the data, whatever N is: the bandwidth
// a ring can give.
//
// Both results are checked against baton::all_reduce on the same input. The
// data are small integers, so every summation order gives the exact same
// floats and the comparison can be exact.
#include <baton/baton.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

// Bytes this rank has handed to isend, to show what each algorithm costs.
size_t g_bytes_sent = 0;

baton::Work send_right(const baton::Tensor& tensor, int right) {
  g_bytes_sent += tensor.nbytes();
  return baton::isend(tensor, right);
}

// The naive ring: size - 1 steps, whole tensors, accumulating.
baton::Tensor naive_ring_allreduce(const baton::Tensor& input) {
  const int rank = baton::get_rank();
  const int size = baton::get_world_size();
  const int left = (rank - 1 + size) % size;
  const int right = (rank + 1) % size;

  // Two buffers take turns: one is on its way to the right while the other
  // receives from the left; `accum` collects the sum.
  baton::Tensor buffers[2] = {input.clone(), input.clone()};
  baton::Tensor accum = input.clone();
  for (int step = 0; step < size - 1; ++step) {
    baton::Tensor& outgoing = buffers[step % 2];
    baton::Tensor& incoming = buffers[(step + 1) % 2];
    baton::Work sending = send_right(outgoing, right);
    baton::recv(incoming, left);
    accum += incoming;
    // The outgoing buffer receives in the next step: wait until it is free.
    sending.wait();
  }
  return accum;
}

// Chunk c of `tensor`: elements [c * n / N, (c + 1) * n / N), as a view.
baton::Tensor chunk_of(const baton::Tensor& tensor, int c, int chunks) {
  const int64_t n = tensor.numel();
  const int64_t begin = n * c / chunks;
  const int64_t end = n * (c + 1) / chunks;
  return tensor.narrow(begin, end - begin);
}

// The chunked ring: reduce-scatter then all-gather, 2(N - 1) steps of one chunk.
baton::Tensor chunked_ring_allreduce(const baton::Tensor& input) {
  const int rank = baton::get_rank();
  const int size = baton::get_world_size();
  const int left = (rank - 1 + size) % size;
  const int right = (rank + 1) % size;
  auto wrap = [size](int c) { return ((c % size) + size) % size; };

  baton::Tensor result = input.clone();
  // Reduce-scatter. In step s, rank r sends its partial sum of chunk r - s
  // and adds what its left neighbour sends, its partial sum of chunk r - s - 1.
  // That chunk is the one sent in step s + 1, carrying one more contribution
  // each time; after N - 1 steps, chunk r + 1 holds all N contributions.
  baton::Tensor scratch = baton::Tensor::empty({chunk_of(input, 0, size).numel() + 1});
  for (int step = 0; step < size - 1; ++step) {
    // The view being sent stays alive until its Work completes.
    const baton::Tensor outgoing = chunk_of(result, wrap(rank - step), size);
    baton::Work sending = send_right(outgoing, right);
    baton::Tensor target = chunk_of(result, wrap(rank - step - 1), size);
    baton::Tensor incoming = scratch.narrow(0, target.numel());
    baton::recv(incoming, left);
    target += incoming;
    sending.wait();
  }
  // All-gather. In step s, rank r passes on the finished chunk r + 1 - s and
  // receives the finished chunk r - s straight into place.
  for (int step = 0; step < size - 1; ++step) {
    const baton::Tensor outgoing = chunk_of(result, wrap(rank + 1 - step), size);
    baton::Work sending = send_right(outgoing, right);
    baton::Tensor target = chunk_of(result, wrap(rank - step), size);
    baton::recv(target, left);
    sending.wait();
  }
  return result;
}

bool same(const baton::Tensor& a, const baton::Tensor& b) {
  const auto x = a.data<float>();
  const auto y = b.data<float>();
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] != y[i]) return false;
  }
  return true;
}

double micros_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  // Step 1: join the job (env://, set up by baton-run). The default length,
  // 4099 elements, divides evenly by neither 3 nor 4, so chunks differ in size.
  baton::init_process_group();
  const int rank = baton::get_rank();
  const int size = baton::get_world_size();
  const int64_t elements = argc > 1 ? std::atoll(argv[1]) : 4099;
  if (size < 2 || elements < size) {
    std::fprintf(stderr, "ring_allreduce: needs 2 or more ranks and at least one element per rank\n");
    return 2;
  }

  // Step 2: deterministic input. Element i of rank r is (r + 1) * (i % 7) +
  // i % 13: small integers, so the sums are exact in float.
  baton::Tensor input = baton::Tensor::empty({elements});
  auto data = input.data<float>();
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<float>((rank + 1) * static_cast<int>(i % 7) + static_cast<int>(i % 13));
  }

  // Step 3: the reference, Baton's own all_reduce on a copy.
  baton::Tensor reference = input.clone();
  auto start = std::chrono::steady_clock::now();
  baton::all_reduce(reference, baton::ReduceOp::SUM);
  const double library_us = micros_since(start);

  // Step 4: the naive ring, and what it cost this rank in bytes sent.
  g_bytes_sent = 0;
  start = std::chrono::steady_clock::now();
  const baton::Tensor naive = naive_ring_allreduce(input);
  const double naive_us = micros_since(start);
  const double naive_share = static_cast<double>(g_bytes_sent) / static_cast<double>(input.nbytes());

  // Step 5: the chunked ring, the same way.
  g_bytes_sent = 0;
  start = std::chrono::steady_clock::now();
  const baton::Tensor chunked = chunked_ring_allreduce(input);
  const double chunked_us = micros_since(start);
  const double chunked_share =
      static_cast<double>(g_bytes_sent) / static_cast<double>(input.nbytes());

  // Step 6: compare both with the reference, and say how much each sent,
  // as a multiple of the tensor's size: N - 1 for the naive ring,
  // 2(N - 1)/N for the chunked one.
  const bool naive_ok = same(naive, reference);
  const bool chunked_ok = same(chunked, reference);
  std::printf("Rank %d: naive ring %s all_reduce (sent %.2fx the data)\n", rank,
              naive_ok ? "matches" : "DIFFERS FROM", naive_share);
  std::printf("Rank %d: chunked ring %s all_reduce (sent %.2fx the data)\n", rank,
              chunked_ok ? "matches" : "DIFFERS FROM", chunked_share);
  if (rank == 0) {
    std::printf("Rank 0: %lld elements on %d ranks: all_reduce %.0f us, naive ring %.0f us, "
                "chunked ring %.0f us (one run each, first-call costs included)\n",
                static_cast<long long>(elements), size, library_us, naive_us, chunked_us);
  }
  std::fflush(stdout);

  // Step 7: leave the job; a mismatch fails the run.
  baton::destroy_process_group();
  return naive_ok && chunked_ok ? 0 : 1;
}
