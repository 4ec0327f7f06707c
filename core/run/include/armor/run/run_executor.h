#pragma once
// Runs one resolved experiment in this process: builds its components from the registry, trains,
// evaluates, and records everything in the store under `run_id` (which must be pending).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "armor/params/params.h"
#include "armor/sweep/early_stop.h"

namespace armor {

class Classifier;
struct DatasetInfo;
struct EvaluationOptions;
struct Experiment;
class Registry;
class RunStore;

// Where a run executes: recorded as its provenance, and where its files go.
struct RunEnvironment {
  std::string output_dir;                     // the checkpoint goes here ("" = no checkpoint)
  std::string revision;                       // source revision ("-dirty" suffix when the tree was)
  std::vector<std::string> plugin_libraries;  // every plugin library loaded
  std::int64_t sweep_id = 0;                  // the run's sweep (for early stopping)
  std::optional<EarlyStop> early_stop;        // the sweep's early stopping, if any
};

// The configured model, built with its gates (told which balancing losses are on), on `device`.
// A factory that throws or returns nothing is a PluginError naming its library.
std::shared_ptr<Classifier> make_model(const Experiment& experiment, const Registry& registry, const DatasetInfo& info,
                                       const c10::Device& device);

// What the experiment's [eval] asks of the evaluation (attacks aside).
EvaluationOptions evaluation_options(const Experiment& experiment);

// Throws RunError / DataError / PluginError on failure; the caller records the failure.
void execute_run(const Experiment& experiment, const Registry& registry, RunStore& store, std::int64_t run_id,
                 const RunEnvironment& environment = {});

// What `armor eval` asks of execute_evaluation.
struct EvaluationRequest {
  std::string checkpoint;            // model.pt (Module::save) to load; "" = the model as built (torchscript)
  std::vector<std::string> attacks;  // metrics of the [eval.attacks] to run; empty = every one
  // true: run_id is a finished run; its metrics gain the new ones (its clean_acc stays), its
  // worst case combines the earlier per-image outcomes with the new; false: run_id is pending and
  // finishes with this evaluation.
  bool add_to_finished_run = false;
};

// Evaluates without training: builds data and model, loads the checkpoint (UsageError when the
// file is missing, RunError naming it when it does not fit the model), runs the evaluation and
// records it under `run_id`.
void execute_evaluation(const Experiment& experiment, const Registry& registry, RunStore& store, std::int64_t run_id,
                        const EvaluationRequest& request, const RunEnvironment& environment = {});

// An exception's message for a run's error record: LibTorch's errors without their C++ backtrace.
std::string describe_exception(const std::exception& error);

// Checks run.device is a device name (cpu, cuda, cuda:N): the [run] section's own check, true of a
// config meant for any machine.
void validate_device(const Params& run);
// Checks this machine can use run.device ("cuda" without CUDA or without a GPU is a ConfigError):
// where runs are planned to execute here, and at the start of every run and evaluation.
void check_device_available(const Params& run);

}  // namespace armor
