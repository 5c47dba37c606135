// Runtime: MPI's initialisation, the engine loop and error conversion.
#include "backends/mpi/runtime.hpp"

#include <algorithm>
#include <cstdlib>
#include <future>

#include "baton/error.hpp"
#include "core/log.hpp"

namespace baton::backends::mpi {
namespace {

constexpr auto kSubsys = log::Subsys::kColl;
// While only receives are outstanding: how long after the last completion
// the engine only yields before it naps between polls.
constexpr auto kYieldWindow = std::chrono::milliseconds(2);
constexpr auto kNap = std::chrono::microseconds(100);
// How long stopping at exit waits for operations still in flight.
constexpr auto kExitGrace = std::chrono::seconds(2);

std::string error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<size_t>(length));
}

const char* level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
    default: return "MPI_THREAD_MULTIPLE";
  }
}

}  // namespace

std::exception_ptr mpi_error(int code, std::string_view what) {
  int error_class = code;
  MPI_Error_class(code, &error_class);
  const std::string message = std::string(what) + ": MPI error: " + error_text(code);
  switch (error_class) {
    case MPI_ERR_TRUNCATE:
      return std::make_exception_ptr(
          MismatchError(message +
                        " (a rank sent more than this rank's tensor holds: the ranks disagree "
                        "about this operation's element count, dtype or root)"));
    case MPI_ERR_BUFFER:
    case MPI_ERR_COUNT:
    case MPI_ERR_TYPE:
    case MPI_ERR_TAG:
    case MPI_ERR_COMM:
    case MPI_ERR_RANK:
    case MPI_ERR_ROOT:
    case MPI_ERR_GROUP:
    case MPI_ERR_OP:
    case MPI_ERR_ARG: return std::make_exception_ptr(InvalidArgument(message));
    default: return std::make_exception_ptr(ConnectionError(message));
  }
}

void check(int code, std::string_view what) {
  if (code != MPI_SUCCESS) std::rethrow_exception(mpi_error(code, what));
}

int test_requests(Task& task, int* done) {
  *done = 1;
  if (task.requests.empty()) return MPI_SUCCESS;
  task.statuses.resize(task.requests.size());
  if (task.requests.size() == 1) {
    // MPI_Test returns the request's own error (a collective's truncation
    // is MPI_ERR_TRUNCATE), where MPI_Testall may say MPI_ERR_IN_STATUS
    // and leave nothing more in the status.
    return MPI_Test(task.requests.data(), done, task.statuses.data());
  }
  int rc = MPI_Testall(static_cast<int>(task.requests.size()), task.requests.data(), done,
                       task.statuses.data());
  if (rc == MPI_ERR_IN_STATUS) {
    for (const auto& status : task.statuses) {
      if (status.MPI_ERROR != MPI_SUCCESS && status.MPI_ERROR != MPI_ERR_PENDING) {
        rc = status.MPI_ERROR;
        break;
      }
    }
  }
  return rc;
}

Runtime& Runtime::get() {
  // Leaked on purpose: the engine outlives static destructors and is stopped
  // by the atexit handler.
  static Runtime* runtime = new Runtime();
  return *runtime;
}

Runtime::Runtime() {
  auto ready = std::make_shared<std::promise<void>>();
  auto initialised = ready->get_future();
  engine_ = std::thread([this, ready] { engine_main(*ready); });
  try {
    initialised.get();
  } catch (...) {
    engine_.join();
    throw;
  }
  std::atexit(&Runtime::at_exit);
}

void Runtime::initialise() {
  int initialised = 0, finalised = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  if (finalised) throw UnsupportedError("mpi backend: MPI was already finalised in this process");
  if (!initialised) {
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &thread_level_),
          "mpi backend: MPI_Init_thread");
    initialised_by_us_ = true;
  } else {
    MPI_Query_thread(&thread_level_);
    if (thread_level_ < MPI_THREAD_SERIALIZED) {
      throw UnsupportedError(
          std::string("mpi backend: the program initialised MPI with ") +
          level_name(thread_level_) +
          "; Baton's MPI engine thread needs at least MPI_THREAD_SERIALIZED (call "
          "MPI_Init_thread with MPI_THREAD_SERIALIZED or MPI_THREAD_MULTIPLE, or let "
          "init_process_group initialise MPI)");
    }
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank_), "mpi backend: MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &world_size_), "mpi backend: MPI_Comm_size");
  MPI_Comm control = MPI_COMM_NULL;
  check(MPI_Comm_dup(MPI_COMM_WORLD, &control), "mpi backend: MPI_Comm_dup");
  MPI_Comm_set_errhandler(control, MPI_ERRORS_RETURN);
  control_comm_ = control;
  BATON_LOG_INFO(kSubsys) << "mpi: rank " << world_rank_ << " of " << world_size_ << ", "
                          << level_name(thread_level_)
                          << (initialised_by_us_ ? "" : " (MPI initialised by the program)");
}

void Runtime::engine_main(std::promise<void>& ready) {
  try {
    initialise();
  } catch (...) {
    ready.set_exception(std::current_exception());
    return;
  }
  ready.set_value();
  std::vector<std::unique_ptr<Task>> active;
  auto last_progress = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point stop_seen{};
  while (true) {
    {
      std::unique_lock lock(mu_);
      if (active.empty()) {
        cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
        if (stop_ && tasks_.empty()) break;
      } else if (tasks_.empty() &&
                 std::chrono::steady_clock::now() - last_progress > kYieldWindow &&
                 std::all_of(active.begin(), active.end(),
                             [](const auto& t) { return t->passive; })) {
        cv_.wait_for(lock, kNap, [&] { return stop_ || !tasks_.empty(); });
      }
      if (stop_ && stop_seen == std::chrono::steady_clock::time_point{}) {
        stop_seen = std::chrono::steady_clock::now();
      }
      while (!tasks_.empty()) {
        active.push_back(std::move(tasks_.front()));
        tasks_.pop_front();
        auto& task = *active.back();
        try {
          if (task.start) task.start(task);
        } catch (...) {
          task.work->fail(std::current_exception());
          active.pop_back();
        }
      }
    }
    if (poll(active)) {
      last_progress = std::chrono::steady_clock::now();
    } else {
      std::this_thread::yield();
    }
    if (stop_seen != std::chrono::steady_clock::time_point{} &&
        std::chrono::steady_clock::now() - stop_seen > kExitGrace) {
      break;
    }
  }
  if (!active.empty()) {
    BATON_LOG_WARN(kSubsys) << "mpi: " << active.size()
                            << " operation(s) still in flight at exit; MPI is not finalised";
    for (auto& task : active) {
      task->work->fail(std::make_exception_ptr(ConnectionError(
          task->work->description() + ": still in flight when the process exited")));
    }
    return;
  }
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised) {
    for (MPI_Comm& comm : adopted_) MPI_Comm_free(&comm);
    adopted_.clear();
  }
  if (control_comm_ != MPI_COMM_NULL && !finalised) MPI_Comm_free(&control_comm_);
  if (initialised_by_us_ && !finalised) MPI_Finalize();
}

bool Runtime::poll(std::vector<std::unique_ptr<Task>>& active) {
  bool progressed = false;
  for (size_t i = 0; i < active.size();) {
    Task& task = *active[i];
    int flag = 1;
    const int rc = test_requests(task, &flag);
    if (rc != MPI_SUCCESS) {
      task.work->fail(mpi_error(rc, task.work->description()));
    } else if (flag) {
      try {
        const int source = task.finish ? task.finish(task) : -1;
        task.work->complete(source);
      } catch (...) {
        task.work->fail(std::current_exception());
      }
    } else {
      ++i;
      continue;
    }
    progressed = true;
    active[i] = std::move(active.back());
    active.pop_back();
  }
  return progressed;
}

void Runtime::submit(std::unique_ptr<Task> task) {
  {
    std::lock_guard lock(mu_);
    if (!stop_) {
      tasks_.push_back(std::move(task));
      cv_.notify_all();
      return;
    }
  }
  // After exit began (e.g. a backend destroyed by a static destructor).
  task->work->fail(std::make_exception_ptr(ConnectionError(
      task->work->description() + ": the process is exiting and the MPI engine has stopped")));
}

void Runtime::adopt(MPI_Comm comm) {
  if (comm != MPI_COMM_NULL) adopted_.push_back(comm);
}

void Runtime::release(MPI_Comm comm) {
  std::erase(adopted_, comm);
  if (comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
}

void Runtime::run_sync(std::function<void()> fn, std::chrono::milliseconds timeout,
                       const std::string& what) {
  auto task = std::make_unique<Task>();
  task->start = [fn = std::move(fn)](Task&) { fn(); };
  auto work = std::make_shared<detail::WorkState>(detail::WorkState::Options{.description = what});
  task->work = work;
  submit(std::move(task));
  if (!work->wait_until(std::chrono::steady_clock::now() + timeout)) {
    throw TimeoutError(what + " did not finish within " + std::to_string(timeout.count()) + " ms");
  }
  if (auto error = work->error()) std::rethrow_exception(error);
}

void Runtime::stop_at_exit() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (engine_.joinable()) engine_.join();
}

void Runtime::at_exit() {
  get().stop_at_exit();
}

}  // namespace baton::backends::mpi
