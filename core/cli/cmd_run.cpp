// armor run EXPERIMENT [overrides...] [--multirun] [--jobs N] ...
// Plans every run (composed and validated) before writing anything to runs.db, records the sweep
// and its runs (pending) with an output folder each, then executes them with the local launcher, or
// submits them to Slurm (--launcher slurm) as one job array.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/host/program_info.h"
#include "armor/launch/process_liveness.h"
#include "armor/launch/run_folder.h"
#include "armor/launch/slurm_launcher.h"
#include "armor/store/run_store.h"
#include "command.h"
#include "launch_args.h"

namespace armor::app {
namespace {

// The run's folder: its resolved config and overrides now; its log and checkpoint as it runs.
void write_run_folder(const std::string& folder, const PlannedRun& run) {
  std::filesystem::create_directories(folder);
  std::ofstream(folder + "/config.toml") << run.experiment.to_toml();
  std::ofstream overrides(folder + "/overrides.txt");
  for (const auto& text : run.overrides) overrides << text << "\n";
}

// Gives each run of a new sweep a folder of its own (<outputs>/<sweep>-<uid8>/<index>, with its
// identity). A folder already there is another run's: the sweep is taken back out of runs.db and
// nothing of that folder is touched.
void place_runs(RunStore& store, std::int64_t sweep_id, const std::vector<std::int64_t>& run_ids, const SweepPlan& plan,
                const std::string& outputs) {
  const std::string sweep_uid = store.reader().sweep(sweep_id).uid;
  std::vector<std::string> folders;
  for (std::size_t i = 0; i < run_ids.size(); ++i) {
    folders.push_back(
        std::filesystem::absolute(sweep_run_folder(outputs, sweep_id, sweep_uid, static_cast<int>(i))).string());
  }
  std::size_t placed = 0;
  try {
    for (; placed < run_ids.size(); ++placed) {
      claim_new_run_folder(folders[placed], owner_of(store.reader().run(run_ids[placed]), store.path()));
      write_run_folder(folders[placed], plan.runs[placed]);
      store.records().set_output_dir(run_ids[placed], folders[placed]);
    }
  } catch (...) {
    store.queue().remove_sweep(sweep_id);
    std::error_code ignored;
    for (std::size_t i = 0; i < placed; ++i) std::filesystem::remove_all(folders[i], ignored);
    throw;
  }
}

// armor run --resume RUN_ID: puts one unfinished run back in the queue and executes it alone; its
// trainer continues from the checkpoint in the run's folder (or starts over when there is none).
int resume_run(std::int64_t run_id, LaunchArgs launch) {
  RunStore store(launch.host.db);
  RunRecord record = store.reader().run(run_id);
  if (!record.sweep_id) throw UsageError(fmt::format("run {} belongs to no sweep and cannot be resumed", run_id));
  for (const auto id :
       store.queue().reap_dead_runs(*record.sweep_id, local_process_liveness(host_name(), kStaleAfterSeconds))) {
    fmt::print("run {}: its process is gone; marked interrupted\n", id);
  }
  record = store.reader().run(run_id);
  switch (record.status) {
    case RunStatus::finished: throw UsageError(fmt::format("run {} has finished: there is nothing to resume", run_id));
    case RunStatus::running:
      throw UsageError(fmt::format("run {} is still running (worker {}, pid {})", run_id, record.worker, record.pid));
    case RunStatus::pending: break;
    default:
      if (!store.queue().requeue_run(run_id)) throw UsageError(fmt::format("run {} cannot be resumed", run_id));
  }
  // Refused here, before anything is queued or written: a folder or checkpoint not the run's own.
  check_run_folder(record, launch.host.db);
  run_side().check_checkpoint(store.reader(), record);
  const std::string checkpoint = record.output_dir + "/checkpoint.pt";
  fmt::print("run {}: {}\n", run_id,
             !record.output_dir.empty() && std::filesystem::exists(checkpoint)
                 ? "continues from its checkpoint " + checkpoint
                 : std::string("has no checkpoint; it starts over"));
  launch.only_run = run_id;
  launch.jobs = 1;
  const LaunchSummary summary = work_on_sweep(store, *record.sweep_id, launch.resolved());
  finish_sweep_and_report(store, *record.sweep_id, summary, launch.host.db);
  return store.reader().run(run_id).status == RunStatus::finished ? kExitOk : kExitFailed;
}

}  // namespace

int run_command(const std::vector<std::string>& args) {
  LaunchArgs launch;
  bool multirun = false;
  bool record_only = false;
  std::string outputs = "outputs";
  std::string experiment_path;
  std::vector<std::string> overrides;
  std::int64_t resume = 0;
  SweepCommandLine sweep_options;
  SlurmOptions slurm;
  po::options_description visible("options");
  add_sweep_options(visible, sweep_options);
  visible.add_options()(
      "multirun,m", po::bool_switch(&multirun),
      "Sweep: each override may list values (a,b,c  choice(a,b)  range(start,stop[,step])  zip(a,b)); "
      "the grid runs, one run per point, all under one sweep")(
      "outputs", po::value(&outputs)->default_value("outputs"),
      "Root of the run folders (<outputs>/<sweep>-<uid>/<index>: identity, config, overrides, log, checkpoint)")(
      "record-only", po::bool_switch(&record_only),
      "Record the sweep and its runs, start none (then `armor sweep work SWEEP` in one or more terminals)")(
      "resume", po::value(&resume)->value_name("RUN_ID"),
      "Continue an interrupted, failed or killed run from its last checkpoint (no EXPERIMENT then)");
  add_launch_options(visible, launch);
  add_slurm_options(visible, slurm);
  add_db_option(visible, launch.host);
  add_plugin_path_option(visible, launch.host);
  po::options_description hidden;
  hidden.add_options()("experiment", po::value(&experiment_path), "")("overrides", po::value(&overrides)->composing(),
                                                                      "");
  po::positional_options_description positional;
  positional.add("experiment", 1).add("overrides", -1);
  po::variables_map values;
  if (!parse_command_line("armor run EXPERIMENT.toml [key=value ...] [group=option ...] [--multirun] [options]\n"
                          "armor run --resume RUN_ID [options]\n\n"
                          "Overrides: key=value (set an existing or declared key), +key=value (add), ++key=value\n"
                          "(add or replace), ~key (delete), group=option (pick <group>/<option>.toml).\n"
                          "Values are TOML (3, 0.1, true, \"text\", [1,2], {a=1}), fractions (8/255), bare words or\n"
                          "${other.key}. A [sweep] table in the experiment makes it a sweep, as --multirun does.",
                          args, visible, hidden, positional, values)) {
    return kExitOk;
  }
  check_launch_options(launch);
  apply_slurm_config(slurm, values);
  if (!slurm.enabled()) warn_if_reference_blas();  // Slurm runs elsewhere, on that node's BLAS
  if (values.count("resume")) {
    if (slurm.enabled()) {
      throw UsageError("--resume RUN_ID runs here; for Slurm use `armor sweep resume SWEEP --launcher slurm`");
    }
    if (!experiment_path.empty() || !overrides.empty()) {
      throw UsageError(
          "--resume RUN_ID continues a recorded run with its recorded config: give no experiment or overrides");
    }
    return resume_run(resume, launch);
  }
  if (experiment_path.empty()) throw UsageError("armor run needs an EXPERIMENT.toml (or --resume RUN_ID)");

  RunSide& side = run_side();
  const Catalog& registry = side.load_plugins(plugin_search(launch.host));
  const SweepPlan plan = plan_runs(experiment_path, overrides, multirun, sweep_options, registry,
                                   slurm.enabled() ? slurm_threads_per_run(slurm) : threads_per_job(launch.jobs));
  side.check_plan(plan, slurm.enabled() ? PlanTarget::cluster : PlanTarget::here);
  for (const auto& dropped : plan.dropped) {
    fmt::print("dropped point {}: {}\n", join_overrides(dropped.overrides), dropped.reason);
  }
  if (plan.runs.empty()) throw ConfigError("the sweep has no runs left after its constraints");

  std::vector<NewRun> runs;
  const std::string revision = build_revision();
  const std::string host = host_name();
  for (std::size_t i = 0; i < plan.runs.size(); ++i) {
    const Experiment& experiment = plan.runs[i].experiment;
    NewRun run;
    run.index = static_cast<int>(i);
    run.experiment = experiment_path;
    run.config = experiment.to_toml();
    run.overrides = plan.runs[i].overrides;
    run.config_hash = experiment.hash();
    run.seed = experiment.seed();
    run.revision = revision;
    run.host = host;
    run.params = experiment.flat_params;
    runs.push_back(std::move(run));
  }

  const std::filesystem::path db_folder = std::filesystem::path(launch.host.db).parent_path();
  if (!db_folder.empty()) std::filesystem::create_directories(db_folder);
  RunStore store(launch.host.db);
  NewSweep sweep{std::filesystem::path(experiment_path).stem().string(), experiment_path,
                 plan.settings.to_spec(plan.is_sweep ? plan.description : join_overrides(overrides), plan.constraints)};
  const auto [sweep_id, run_ids] = store.queue().add_sweep(sweep, runs);
  place_runs(store, sweep_id, run_ids, plan, outputs);
  fmt::print("sweep {}: {} run{} recorded in {}{}\n", sweep_id, run_ids.size(), run_ids.size() == 1 ? "" : "s",
             launch.host.db, plan.is_sweep ? " (" + plan.description + ")" : "");
  if (plan.settings.early_stop) fmt::print("early stopping: {}\n", plan.settings.early_stop->describe());
  if (record_only) {
    fmt::print("start workers with: armor sweep work {} --db {}\n", sweep_id, launch.host.db);
    return kExitOk;
  }
  if (slurm.enabled()) {
    submit_sweep(store, sweep_id, launch.resolved(), slurm);
    if (slurm.wait) return wait_for_sweep(store, sweep_id, slurm, launch.host.db);
    fmt::print(
        "follow it with: armor sweep status {0} --db {1}\n"
        "collect results: armor sweep collect {0} --db {1}\n",
        sweep_id, launch.host.db);
    return kExitOk;
  }
  const LaunchSummary summary = work_on_sweep(store, sweep_id, launch.resolved());
  return finish_sweep_and_report(store, sweep_id, summary, launch.host.db);
}

}  // namespace armor::app
