#include "armor/run/exec_run.h"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/core.h>

#include "armor/config/config.h"
#include "armor/config/experiment.h"
#include "armor/error.h"
#include "armor/host/program_info.h"
#include "armor/launch/run_folder.h"
#include "armor/run/checkpoint_check.h"
#include "armor/run/run_executor.h"
#include "armor/store/run_store.h"
#include "armor/sweep/sweep_plan.h"

namespace armor {
namespace {

// Writes the run's heartbeat every few seconds on a connection of its own, until destroyed.
class Heartbeat {
 public:
  Heartbeat(const std::string& db, RunStore::Mode mode, std::int64_t run_id)
      : thread_([this, db, mode, run_id] {
          std::unique_ptr<RunStore> store;
          std::unique_lock<std::mutex> lock(mutex_);
          while (!stop_) {
            if (wake_.wait_for(lock, std::chrono::seconds(5), [this] { return stop_; })) break;
            try {
              if (!store) store = std::make_unique<RunStore>(db, mode);
              store->queue().heartbeat(run_id);
            } catch (const std::exception&) {
              // A busy or locked database delays a heartbeat (never the run); the next one catches up.
            }
          }
        }) {}
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

int execute_claimed_run(const ExecRunRequest& request, const Registry& registry,
                        const std::vector<std::string>& plugin_libraries) {
  const std::int64_t run_id = request.run_id;
  const std::string db = request.shard.empty() ? request.db : request.shard;
  const RunStore::Mode mode = request.shard.empty() ? RunStore::Mode::read_write : RunStore::Mode::shard;
  RunStore store(db, mode);
  const RunRecord record = store.reader().run(run_id);
  if (record.status != RunStatus::running && record.status != RunStatus::pending) {
    throw UsageError(
        fmt::format("run {} is {}: only a pending or claimed run can execute", run_id, to_string(record.status)));
  }
  try {
    // A run continues only in its own folder and from its own recorded checkpoint.
    check_run_folder(record, db);
    check_resumable_checkpoint(store.reader(), record);
  } catch (const IdentityError& error) {
    store.queue().fail_run(run_id, error.what());
    fmt::print(stderr, "armor: run {} refused: {}\n", run_id, error.what());
    return kExitRefused;
  }
  store.queue().start_run(run_id, getpid());
  Heartbeat heartbeat(db, mode, run_id);
  try {
    const Experiment experiment =
        resolve_experiment(Config::parse(record.config, fmt::format("run {} config", run_id)), registry);
    RunEnvironment environment;
    environment.output_dir = record.output_dir;
    // The code that runs now, which after a resume need not be the code that recorded the run.
    environment.revision = build_revision();
    environment.plugin_libraries = plugin_libraries;
    if (record.sweep_id) {
      environment.sweep_id = *record.sweep_id;
      environment.early_stop = SweepSettings::from_spec(store.reader().sweep(*record.sweep_id).spec).early_stop;
    }
    execute_run(experiment, registry, store, run_id, environment);
  } catch (const DivergedError& error) {
    store.queue().fail_run(run_id, error.what(), RunStatus::diverged);
    fmt::print(stderr, "armor: run {} diverged: {}\n", run_id, error.what());
    return kExitRunFailed;
  } catch (const std::exception& error) {
    const std::string message = describe_exception(error);
    store.queue().fail_run(run_id, message);
    fmt::print(stderr, "armor: run {} failed: {}\n", run_id, message);
    return kExitRunFailed;
  }
  return 0;
}

}  // namespace armor
