#include "armor/run/evaluate_command.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/core.h>
#include <fmt/format.h>

#include "armor/config/config.h"
#include "armor/config/experiment.h"
#include "armor/error.h"
#include "armor/host/program_info.h"
#include "armor/launch/run_folder.h"
#include "armor/plugin/registry.h"
#include "armor/run/run_executor.h"
#include "armor/store/run_store.h"
#include "armor/util/sha256.h"

namespace armor {
namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    const std::string name = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!name.empty()) names.push_back(name);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return names;
}

// An override's key: "+eval.attacks.aa.name=autoattack" -> "eval.attacks.aa.name".
std::string override_key(const std::string& text) {
  const std::size_t start = text.find_first_not_of("+~");
  return start == std::string::npos ? text : text.substr(start, text.find('=') - start);
}

// A re-evaluation may change how the model is evaluated, never what the model or its test set is.
void check_reevaluation_override(const std::string& text) {
  const std::string key = override_key(text);
  if (key.rfind("eval.", 0) == 0 || key == "run.device" || key == "run.threads") return;
  throw UsageError(
      fmt::format("armor eval RUN_ID: override '{}' changes {}; a re-evaluation may change only eval.*, "
                  "run.device and run.threads",
                  text, key));
}

// A new run made from a finished run's checkpoint may also change model.*: what the checkpoint
// still fits (strictly: every tensor by name and shape), such as a dual model's alpha.
void check_new_run_override(const std::string& text) {
  const std::string key = override_key(text);
  if (key.rfind("eval.", 0) == 0 || key.rfind("model.", 0) == 0 || key == "run.device" || key == "run.threads") return;
  throw UsageError(
      fmt::format("armor eval RUN_ID --new-run: override '{}' changes {}; it may change only model.*, eval.*, "
                  "run.device and run.threads (the checkpoint's training stays as it was)",
                  text, key));
}

// The metrics of the [eval.attacks] tables that `now` adds or changes compared with `before`.
std::vector<std::string> new_or_changed_attacks(const Experiment& before, const Experiment& now) {
  auto attacks_of = [](const Experiment& experiment) -> const toml::table* {
    const toml::node* eval = experiment.resolved.get("eval");
    const toml::node* attacks = eval != nullptr && eval->as_table() ? eval->as_table()->get("attacks") : nullptr;
    return attacks != nullptr ? attacks->as_table() : nullptr;
  };
  std::vector<std::string> changed;
  const toml::table* old_attacks = attacks_of(before);
  const toml::table* new_attacks = attacks_of(now);
  if (new_attacks == nullptr) return changed;
  for (const auto& [key, node] : *new_attacks) {
    const toml::node* old = old_attacks != nullptr ? old_attacks->get(key.str()) : nullptr;
    if (old == nullptr || old->as_table() == nullptr || node.as_table() == nullptr ||
        *old->as_table() != *node.as_table()) {
      changed.emplace_back(key.str());
    }
  }
  return changed;
}

int reevaluate_run(std::int64_t run_id, const std::vector<std::string>& overrides, const std::string& attack_list,
                   const std::string& db, const Registry& registry, const std::vector<std::string>& plugin_libraries) {
  RunStore store(db);
  const RunRecord record = store.reader().run(run_id);
  if (record.status != RunStatus::finished) {
    throw UsageError(
        fmt::format("run {} is {}: only a finished run can be re-evaluated", run_id, to_string(record.status)));
  }
  for (const std::string& text : overrides) check_reevaluation_override(text);
  const std::string source = fmt::format("run {} config", run_id);
  const Experiment recorded = resolve_experiment(Config::parse(record.config, source), registry);
  Config config = Config::parse(record.config, source);
  config.apply(overrides,
               [&registry](const Config& c, const std::string& key) { return is_declared_key(c, registry, key); });
  config.interpolate();
  const Experiment experiment = resolve_experiment(config, registry);

  EvaluationRequest request;
  request.add_to_finished_run = true;
  request.checkpoint = record.output_dir.empty() ? std::string() : record.output_dir + "/model.pt";
  if (request.checkpoint.empty())
    throw UsageError(fmt::format("run {} has no output folder, so no checkpoint", run_id));
  // The model evaluated is the file runs.db recorded for this run, unchanged (not another run's).
  if (std::filesystem::exists(request.checkpoint))
    check_recorded_file(store.reader(), record, "checkpoint", request.checkpoint);
  request.attacks = attack_list.empty() ? new_or_changed_attacks(recorded, experiment) : split_list(attack_list);
  for (const std::string& name : request.attacks) {
    const bool known = std::any_of(experiment.eval_attacks.begin(), experiment.eval_attacks.end(),
                                   [&](const Params& p) { return eval_attack_metric(p) == name; });
    if (!known)
      throw UsageError(fmt::format("--attacks names '{}', which is no [eval.attacks] table of run {}", name, run_id));
  }
  fmt::print(
      "run {}: evaluating {} from {}\n", run_id,
      request.attacks.empty() ? std::string("every attack") : fmt::format("{}", fmt::join(request.attacks, ", ")),
      request.checkpoint);
  RunEnvironment environment;
  environment.output_dir = record.output_dir;
  environment.revision = build_revision();
  environment.plugin_libraries = plugin_libraries;
  execute_evaluation(experiment, registry, store, run_id, request, environment);
  for (const auto& [key, value] : store.reader().metrics(run_id)) fmt::print("  {} = {:.4f}\n", key, value);
  return 0;
}

// A new run for an evaluation without training: recorded, given its folder <outputs>/eval/<id>-<uid>
// with its config, and started. Nothing is left in runs.db when the folder cannot be claimed.
std::pair<std::int64_t, std::string> start_evaluation_run(RunStore& store, const NewRun& run,
                                                          const std::string& outputs, const std::string& db) {
  const std::int64_t run_id = store.queue().add_run(run);
  const RunRecord record = store.reader().run(run_id);
  const std::string folder =
      std::filesystem::absolute(fmt::format("{}/eval/{}-{}", outputs, run_id, record.uid.substr(0, 8))).string();
  try {
    claim_new_run_folder(folder, owner_of(record, db));
  } catch (...) {
    store.queue().remove_runs({run_id});
    throw;
  }
  std::ofstream(folder + "/config.toml") << run.config;
  store.records().set_output_dir(run_id, folder);
  store.queue().start_run(run_id, getpid());
  return {run_id, folder};
}

int evaluate_as_new_run(std::int64_t source_id, const std::vector<std::string>& overrides, const std::string& outputs,
                        const std::string& db, const Registry& registry,
                        const std::vector<std::string>& plugin_libraries) {
  RunStore store(db);
  const RunRecord source = store.reader().run(source_id);
  if (source.status != RunStatus::finished) {
    throw UsageError(fmt::format("run {} is {}: only a finished run's checkpoint can be evaluated", source_id,
                                 to_string(source.status)));
  }
  for (const std::string& text : overrides) check_new_run_override(text);
  Config config = Config::parse(source.config, fmt::format("run {} config", source_id));
  config.apply(overrides,
               [&registry](const Config& c, const std::string& key) { return is_declared_key(c, registry, key); });
  config.interpolate();
  const Experiment experiment = resolve_experiment(config, registry);
  check_device_available(experiment.section("run"));  // before the run is recorded
  const std::string checkpoint = source.output_dir.empty() ? std::string() : source.output_dir + "/model.pt";
  if (checkpoint.empty() || !std::filesystem::exists(checkpoint))
    throw UsageError(
        fmt::format("run {} has no checkpoint{}", source_id, checkpoint.empty() ? "" : " at " + checkpoint));
  check_recorded_file(store.reader(), source, "checkpoint", checkpoint);

  NewRun run;
  run.experiment = source.experiment;
  run.config = experiment.to_toml();
  run.overrides = overrides;
  run.overrides.push_back(fmt::format("--from-run={}", source_id));
  run.config_hash = experiment.hash();
  run.seed = experiment.seed();
  run.revision = build_revision();
  run.host = host_name();
  run.params = experiment.flat_params;
  const auto [run_id, folder] = start_evaluation_run(store, run, outputs, db);
  fmt::print("run {}: evaluating run {}'s checkpoint {} (no training)\n", run_id, source_id, checkpoint);
  try {
    store.records().record_artifact(run_id, kEvaluatedCheckpointArtifact, checkpoint, sha256_file_hex(checkpoint));
    EvaluationRequest request;
    request.checkpoint = checkpoint;
    RunEnvironment environment;
    environment.output_dir = folder;
    environment.revision = run.revision;
    environment.plugin_libraries = plugin_libraries;
    execute_evaluation(experiment, registry, store, run_id, request, environment);
  } catch (const std::exception& error) {
    // Nothing half-written: the new run goes (a model.* override the checkpoint does not fit ends here).
    store.queue().remove_runs({run_id});
    std::filesystem::remove_all(folder);
    throw RunError(fmt::format("evaluating run {}'s checkpoint as a new run failed, nothing recorded: {}", source_id,
                               describe_exception(error)));
  }
  for (const auto& [key, value] : store.reader().metrics(run_id)) fmt::print("  {} = {:.4f}\n", key, value);
  return 0;
}

int evaluate_model_file(const std::string& model_file, const std::string& experiment_path,
                        const std::vector<std::string>& overrides, const std::string& outputs, const std::string& db,
                        const Registry& registry, const std::vector<std::string>& plugin_libraries) {
  if (!std::filesystem::is_regular_file(model_file))
    throw UsageError(fmt::format("--model-file: no file at {}", model_file));
  const std::string model_path = std::filesystem::absolute(model_file).string();
  Config config = compose_experiment(experiment_path, overrides, registry);
  toml::table model;
  model.insert_or_assign("name", "torchscript");
  model.insert_or_assign("path", model_path);
  config.table().insert_or_assign("model", std::move(model));
  if (config.table().get("trainer") == nullptr) {
    toml::table trainer;  // never runs: the run records what a training would have used
    trainer.insert_or_assign("name", "standard");
    config.table().insert_or_assign("trainer", std::move(trainer));
  }
  const Experiment experiment = resolve_experiment(config, registry);
  check_device_available(experiment.section("run"));  // before the run is recorded

  NewRun run;
  run.experiment = experiment_path;
  run.config = experiment.to_toml();
  run.overrides = overrides;
  run.overrides.push_back("--model-file=" + model_path);
  run.config_hash = experiment.hash();
  run.seed = experiment.seed();
  run.revision = build_revision();
  run.host = host_name();
  run.params = experiment.flat_params;
  const std::filesystem::path db_folder = std::filesystem::path(db).parent_path();
  if (!db_folder.empty()) std::filesystem::create_directories(db_folder);
  RunStore store(db);
  const auto [run_id, folder] = start_evaluation_run(store, run, outputs, db);
  fmt::print("run {}: evaluating {} (no training)\n", run_id, model_path);
  try {
    store.records().record_artifact(run_id, kModelFileArtifact, model_path, sha256_file_hex(model_path));
    RunEnvironment environment;
    environment.output_dir = folder;
    environment.revision = run.revision;
    environment.plugin_libraries = plugin_libraries;
    execute_evaluation(experiment, registry, store, run_id, EvaluationRequest{}, environment);
  } catch (const std::exception& error) {
    const std::string message = describe_exception(error);
    store.queue().fail_run(run_id, message);
    fmt::print(stderr, "armor: run {} failed: {}\n", run_id, message);
    return 1;
  }
  for (const auto& [key, value] : store.reader().metrics(run_id)) fmt::print("  {} = {:.4f}\n", key, value);
  return 0;
}

}  // namespace

int evaluate_command(const EvalRequest& request, const Registry& registry,
                     const std::vector<std::string>& plugin_libraries) {
  if (!request.model_file.empty()) {
    if (!request.attacks.empty()) throw UsageError("--attacks applies to armor eval RUN_ID, not to --model-file");
    return evaluate_model_file(request.model_file, request.experiment, request.overrides, request.outputs, request.db,
                               registry, plugin_libraries);
  }
  if (request.new_run) {
    if (!request.attacks.empty()) throw UsageError("--attacks applies to re-evaluating a run, not to --new-run");
    return evaluate_as_new_run(request.run_id, request.overrides, request.outputs, request.db, registry,
                               plugin_libraries);
  }
  return reevaluate_run(request.run_id, request.overrides, request.attacks, request.db, registry, plugin_libraries);
}

}  // namespace armor
