#pragma once
// RunSide: what the armor program asks of the run side (libarmor_run.so, LibTorch): load the
// plugins, check a plan on what its runs would build, execute a run, evaluate. The program links
// only the torch-free host; run_side() loads the run side on first use (about 0.4 s, LibTorch's
// start-up), so `armor db`, `config`, `report` and `sweep status` never pay it.

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "armor/plugin/catalog.h"
#include "armor/sweep/sweep_plan.h"

namespace armor {

class ResultsReader;
struct RunRecord;

// Where plugins come from: --plugin-path values, then ARMOR_PLUGIN_PATH, then the default folders.
struct PluginSearch {
  std::vector<std::string> cli_paths;
  std::vector<std::string> default_dirs;
};

// armor _exec-run: one claimed run of `db` (or of the Slurm shard database `shard`) executes here.
struct ExecRunRequest {
  std::string db;
  std::string shard;  // "" = none; then everything goes to `db`
  std::int64_t run_id = 0;
  PluginSearch plugins;
};

// armor eval: a finished run evaluated again (run_id), or a TorchScript model file evaluated as a new
// run on an experiment's data and [eval] (model_file).
struct EvalRequest {
  std::string db;
  PluginSearch plugins;
  std::int64_t run_id = 0;
  std::string model_file;
  std::string experiment;
  std::vector<std::string> overrides;
  std::string attacks;  // comma-separated metrics, "" = as the overrides decide
  std::string outputs = "outputs";
  // RUN_ID: evaluate the run's checkpoint as a new run, whose overrides may also change model.*
  // (a dual model's alpha), instead of adding metrics to the run itself.
  bool new_run = false;
};

class RunSide {
 public:
  virtual ~RunSide() = default;

  // The built-ins and every plugin of the search path, loaded once per process (later calls return
  // the same catalog, which is the registry). Writes each library's manifest (plugin_manifest.h).
  virtual const Catalog& load_plugins(const PluginSearch& search) = 0;
  // The plugin libraries load_plugins loaded.
  virtual std::vector<std::string> plugin_libraries() const = 0;
  // check_plan of armor/run/plan_checks.h with the loaded registry.
  virtual void check_plan(const SweepPlan& plan, PlanTarget target) = 0;
  // Exit codes as the program's (0 finished, 1 failed, 2 refused).
  virtual int execute_run(const ExecRunRequest& request) = 0;
  virtual int evaluate(const EvalRequest& request) = 0;
  // check_resumable_checkpoint of armor/run/checkpoint_check.h (IdentityError when not the run's).
  virtual void check_checkpoint(const ResultsReader& store, const RunRecord& run) const = 0;
  // A warning when matrix products would run on the reference BLAS (armor/util/blas_check.h).
  virtual std::optional<std::string> reference_blas_warning() const = 0;
  // An exception's message without LibTorch's C++ backtrace.
  virtual std::string describe(const std::exception& error) const = 0;
};

// The run side, loaded on first use from libarmor_run.so next to armor's other libraries.
// PluginError naming the library when it cannot be loaded.
RunSide& run_side();

// The message of `error` for the user: the run side's describe() once it is loaded (LibTorch errors
// lose their backtrace), what() otherwise.
std::string describe_error(const std::exception& error);

}  // namespace armor

// The run side's entry point (exported by libarmor_run.so).
extern "C" armor::RunSide* armor_run_side();
