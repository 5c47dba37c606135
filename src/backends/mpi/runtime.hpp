// Runtime: the process's one MPI engine thread, which makes the MPI calls.
//
// Threading (the choice c10d's ProcessGroupMPI makes, generalised): MPI is
// initialised, driven and finalised by one thread per process, the engine.
// Every operation of every mpi group is a Task handed to it; the engine
// starts tasks in the order they were submitted (so collectives of one
// communicator start in program order on every rank), posts only
// non-blocking MPI calls (MPI_Isend/Irecv, MPI-3 MPI_Iallreduce, MPI_Ibcast,
// ...) and then polls all outstanding requests with MPI_Testall. Because the
// engine never blocks inside MPI, an irecv waiting for a late message never
// holds up a send or a collective behind it, and any number of async
// operations may be in flight. This works with any thread level the library
// gives (MPI_THREAD_SERIALIZED is enough, since only the engine calls MPI).
// Where the library provides MPI_THREAD_MULTIPLE (Debian's OpenMPI does), a
// backend may also post and poll a blocking collective on the calling thread
// when nothing else of its group is in flight (mpi_backend.hpp), which saves
// the hop to the engine and back; everything else still goes through the
// engine. When a program initialised MPI itself, it must have asked for at least
// MPI_THREAD_SERIALIZED (the engine is another thread); otherwise
// Runtime::get() throws UnsupportedError.
//
// Progress: MPI progresses only inside MPI calls, so a rank that stops
// polling delays its peers. While a collective or a send is outstanding the
// engine polls without pause, yielding the CPU between polls (as MPI_Wait
// spins), so that ranks may outnumber cores; while only receives are
// outstanding it naps 100 µs between polls once 2 ms have passed without a
// completion. With nothing outstanding it sleeps until a task arrives.
//
// Errors: every communicator the backend makes returns errors
// (MPI_ERRORS_RETURN) instead of aborting the job; a failing MPI call becomes
// a baton::Error carrying MPI_Error_string's text (mpi_error()).
//
// Lifetime: MPI is initialised on the first Runtime::get() (unless the
// program did it) and finalised at process exit (std::atexit), only if Baton
// initialised it, so init_process_group / destroy_process_group may repeat.
// The communicators of groups still alive at exit (a program that never
// called destroy_process_group) are freed just before MPI_Finalize: their
// backends are destroyed later, by static destructors, when MPI is gone.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "backends/work_state.hpp"

namespace baton::backends::mpi {

// One operation for the engine. start() runs on the engine thread and posts
// non-blocking MPI calls, appending their requests; when all of them are
// done the engine runs finish() (also on the engine thread), whose result is
// the Work's source rank (-1 for anything but a receive). Either may throw
// a baton::Error, which fails the Work.
struct Task {
  std::function<void(Task&)> start;
  std::function<int(Task&)> finish;
  std::vector<MPI_Request> requests;
  std::vector<MPI_Status> statuses;
  std::shared_ptr<detail::WorkState> work;
  // A receive, which may wait long for its message: the engine may nap
  // while only such tasks are outstanding.
  bool passive = false;
};

class Runtime {
 public:
  // The runtime, starting the engine and MPI on the first call. Blocks while
  // MPI initialises. Throws UnsupportedError when MPI was initialised by the
  // program below MPI_THREAD_SERIALIZED or already finalised, Error with
  // MPI's text when MPI_Init_thread fails.
  static Runtime& get();

  int world_rank() const { return world_rank_; }
  int world_size() const { return world_size_; }
  // The thread level MPI provides (MPI_THREAD_*).
  int thread_level() const { return thread_level_; }
  // A private duplicate of MPI_COMM_WORLD for the backend's own messages
  // (agreeing on new_group's members); MPI_ERRORS_RETURN set.
  MPI_Comm control_comm() const { return control_comm_; }

  // A communicator the backend made (adopt) and its MPI_Comm_free (release).
  // Engine thread only. What is adopted and not released is freed at exit,
  // before MPI_Finalize.
  void adopt(MPI_Comm comm);
  void release(MPI_Comm comm);

  // Hands a task to the engine. Does not block.
  void submit(std::unique_ptr<Task> task);
  // Runs fn on the engine thread and waits for it, at most `timeout`
  // (TimeoutError naming `what`); rethrows what fn throws.
  void run_sync(std::function<void()> fn, std::chrono::milliseconds timeout,
                const std::string& what);

 private:
  Runtime();
  void engine_main(std::promise<void>& ready);
  void initialise();
  // Starts new tasks and polls the active ones once; returns whether any finished.
  bool poll(std::vector<std::unique_ptr<Task>>& active);
  void stop_at_exit();
  static void at_exit();

  int world_rank_ = 0;
  int world_size_ = 1;
  int thread_level_ = MPI_THREAD_SINGLE;
  bool initialised_by_us_ = false;
  MPI_Comm control_comm_ = MPI_COMM_NULL;
  std::vector<MPI_Comm> adopted_;  // engine thread only

  std::mutex mu_;
  std::condition_variable cv_;               // tasks_ gained a task, or stop_
  std::deque<std::unique_ptr<Task>> tasks_;  // GUARDED_BY(mu_)
  bool stop_ = false;                        // GUARDED_BY(mu_)
  std::thread engine_;
};

// A baton::Error for MPI error code `code` returned while doing `what`,
// carrying MPI_Error_string's text: MismatchError for MPI_ERR_TRUNCATE,
// InvalidArgument for argument classes (rank, tag, count, type, root, ...),
// ConnectionError otherwise. Call on the engine thread (or before MPI_Finalize).
std::exception_ptr mpi_error(int code, std::string_view what);
// Throws mpi_error(code, what) unless code is MPI_SUCCESS.
void check(int code, std::string_view what);
// Tests every request of `task` (MPI_Test for one, MPI_Testall for more);
// *done says whether all completed. Returns MPI_SUCCESS or the failing
// request's own error code (never MPI_ERR_IN_STATUS where a status holds
// the real one).
int test_requests(Task& task, int* done);

}  // namespace baton::backends::mpi
