#include "armor/run/run_executor.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/core.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "armor/attack/attack.h"
#include "armor/config/declared_constraints.h"
#include "armor/config/experiment.h"
#include "armor/data/augmentation.h"
#include "armor/data/dataset.h"
#include "armor/error.h"
#include "armor/nn/balancing_loss.h"
#include "armor/nn/classifier.h"
#include "armor/nn/gate.h"
#include "armor/plugin/registry.h"
#include "armor/run/certified_radius.h"
#include "armor/run/eval_checks.h"
#include "armor/run/evaluation.h"
#include "armor/run/robustness_curve.h"
#include "armor/store/run_store.h"
#include "armor/train/balancing_term.h"
#include "armor/train/metric_sink.h"
#include "armor/train/state_dict.h"
#include "armor/train/trainer.h"
#include "armor/util/sha256.h"

namespace armor {
namespace {

// Writes each epoch's metrics to runs.db as soon as the trainer reports them, and applies the
// sweep's early stopping at its rungs (comparing with the sweep's other runs through runs.db).
class StoreMetricSink : public MetricSink {
 public:
  StoreMetricSink(RunStore& store, std::int64_t run_id, const RunEnvironment& environment)
      : store_(store), run_id_(run_id), environment_(environment) {}

  bool epoch_end(int epoch, const MetricValues& values) override {
    // A stop once recorded stands: a run resumed from an older checkpoint stops again at the epoch
    // it stopped at, whatever the sweep's other runs recorded since.
    if (stopped_at(epoch)) {
      store_.records().record_epoch_metrics(run_id_, epoch, values);
      return false;
    }
    const bool go_on = promoted(epoch, values);
    MetricValues recorded = values;
    if (!go_on) recorded.emplace_back("stopped_early", 1.0);
    // One transaction: an epoch's metrics are never in runs.db without the decision taken on them.
    store_.records().record_epoch_metrics(run_id_, epoch, recorded);
    return go_on;
  }

  bool epoch_resumed(int epoch, const MetricValues& values) override {
    if (!recorded_at(epoch).empty()) return !stopped_at(epoch);
    return epoch_end(epoch, values);  // killed after the checkpoint, before its epoch was recorded
  }

  // Recorded before the file replaces the last checkpoint: a resume then finds in runs.db the sha256
  // of whichever checkpoint is on disk (or of the .tmp a kill left unrenamed).
  void checkpoint_written(const std::string& written, const std::string& path) override {
    store_.records().record_artifact(run_id_, "training_state", path, sha256_file_hex(written));
  }

 private:
  // Whether the sweep's early stopping lets the run go on after `epoch`: true off its rungs.
  bool promoted(int epoch, const MetricValues& values) const {
    const auto& stop = environment_.early_stop;
    if (!stop || !stop->is_rung(epoch)) return true;
    const auto it = std::find_if(values.begin(), values.end(), [&](const auto& v) { return v.first == stop->metric; });
    if (it == values.end()) {
      throw RunError("early stopping reads epoch metric '" + stop->metric + "', which this trainer does not record");
    }
    std::vector<double> rung{it->second};
    for (const auto& [id, value] : store_.reader().sweep_epoch_metric(environment_.sweep_id, epoch, stop->metric)) {
      if (id != run_id_) rung.push_back(value);
    }
    const bool go_on = stop->promotes(it->second, rung);
    fmt::print("{} at epoch {}: {} {:.4f} among {} run(s) -> {}\n", stop->describe(), epoch, stop->metric, it->second,
               rung.size(), go_on ? "continue" : "stop");
    return go_on;
  }

  std::vector<EpochMetric> recorded_at(int epoch) const {
    std::vector<EpochMetric> found = store_.reader().epoch_metrics(run_id_);
    found.erase(std::remove_if(found.begin(), found.end(), [&](const EpochMetric& m) { return m.epoch != epoch; }),
                found.end());
    return found;
  }

  bool stopped_at(int epoch) const {
    const std::vector<EpochMetric> found = recorded_at(epoch);
    return std::any_of(found.begin(), found.end(), [](const EpochMetric& m) { return m.key == "stopped_early"; });
  }

  RunStore& store_;
  std::int64_t run_id_;
  const RunEnvironment& environment_;
};

// Calls a factory; exceptions other than armor's own become PluginErrors naming the library.
template <typename Make>
auto make_component(const Registry& registry, PluginKind kind, const Params& params, Make&& make) {
  const std::string& name = params.string("name");
  try {
    auto component = make();
    if (!component)
      throw PluginError(registry.info(kind, name).library,
                        std::string(to_string(kind)) + " '" + name + "' factory returned nothing");
    return component;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& error) {
    throw PluginError(registry.info(kind, name).library, std::string(to_string(kind)) + " '" + name +
                                                             "' could not be built: " + describe_exception(error));
  }
}

torch::Device run_device(const Params& run) { return torch::Device(run.string("device")); }

// The last non-empty line of a message: what a TorchScript traceback ends with ("RuntimeError: ...").
std::string last_line(const std::string& text) {
  const std::size_t end = text.find_last_not_of("\n ");
  if (end == std::string::npos) return text;
  const std::size_t start = text.rfind('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1,
                     end + 1 - (start == std::string::npos ? 0 : start + 1));
}

// One forward of two training images before anything trains, so that a model that cannot take the
// data (a TorchScript model traced for other images, another number of classes) fails with one
// clear line instead of a traceback from inside training.
void check_model_fits_data(Classifier& model, const std::string& model_name, const LabelledImages& train,
                           const DatasetInfo& info, const torch::Device& device) {
  const std::string input = fmt::format("[{},{},{}]", info.channels, info.height, info.width);
  const bool was_training = model.is_training();
  torch::Tensor logits;
  try {
    torch::NoGradGuard no_grad;
    model.eval();
    // As the loaders give them: float in [0,1] (the stored images are uint8).
    torch::Tensor x = train.images.slice(0, 0, 2).to(device);
    if (x.scalar_type() == torch::kUInt8) x = x.to(torch::kFloat32).div(255.0);
    logits = model.forward(x);
  } catch (const std::exception& error) {
    model.train(was_training);
    throw DataError(fmt::format("model '{}' does not accept the images of dataset '{}' ({}): {}", model_name, info.name,
                                input, last_line(describe_exception(error))));
  }
  model.train(was_training);
  if (logits.dim() != 2 || logits.size(1) != info.num_classes) {
    throw DataError(fmt::format("model '{}' gives logits of shape {} for images {}; dataset '{}' has {} classes",
                                model_name, c10::str(logits.sizes()), input, info.name, info.num_classes));
  }
}

}  // namespace

std::string describe_exception(const std::exception& error) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&error)) return torch_error->what_without_backtrace();
  return error.what();
}

EvaluationOptions evaluation_options(const Experiment& experiment) {
  const Params& eval = experiment.section("eval");
  EvaluationOptions options;
  options.batch_size = eval.integer("batch_size");
  options.route_attacks = eval.boolean("route_attacks");
  options.route_change = eval.boolean("route_change");
  options.fixed_expert_layer = eval.string("fixed_expert_layer");
  options.fixed_expert_attacks = eval.string("fixed_expert_attacks");
  options.dual_members = eval.boolean("dual_members");
  return options;
}

std::shared_ptr<Classifier> make_model(const Experiment& experiment, const Registry& registry, const DatasetInfo& info,
                                       const torch::Device& device) {
  std::vector<std::string> balancing_names;
  if (experiment.section("balancing").real("weight") != 0.0)
    balancing_names.push_back(experiment.section("balancing").string("name"));
  for (const Params& params : experiment.extra_balancing) {
    if (params.real("weight") != 0.0) balancing_names.push_back(params.string("name"));
  }
  const Params& gate_params = experiment.section("gate");
  ModelContext model_context;
  model_context.data = &info;
  model_context.check_constraints = check_declared_constraints;
  model_context.make_gate = [&](const GateShape& layer_shape) {
    GateShape shape = layer_shape;
    shape.balancing_losses = balancing_names;
    return make_component(registry, PluginKind::gate, gate_params,
                          [&] { return registry.gate(gate_params.string("name"))(gate_params, shape); });
  };
  const Params& model_params = experiment.section("model");
  auto model = make_component(registry, PluginKind::model, model_params,
                              [&] { return registry.model(model_params.string("name"))(model_params, model_context); });
  model->to(device);
  return model;
}

void validate_device(const Params& run) {
  std::optional<torch::Device> device;
  try {
    device.emplace(run.string("device"));
  } catch (const std::exception&) {
    run.fail("device", "must be cpu, cuda or cuda:N");
  }
  if (!device->is_cuda() && !device->is_cpu()) run.fail("device", "must be cpu, cuda or cuda:N");
}

void check_device_available(const Params& run) {
  const torch::Device device(run.string("device"));
  if (!device.is_cuda()) return;
  if (!torch::cuda::is_available()) {
    run.fail("device", "asks for CUDA, but this LibTorch build has no CUDA or no GPU is visible");
  }
  if (device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count())) {
    run.fail("device", fmt::format("names a GPU that does not exist ({} visible)", torch::cuda::device_count()));
  }
}

namespace {

// The CPU's model name and its widest vector extension ("AMD EPYC (avx512f)"), from /proc/cpuinfo;
// "" where there is none (not Linux).
std::string cpu_description() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model, widest;
  while (std::getline(cpuinfo, line) && (model.empty() || widest.empty())) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    const std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (key == "model name" && model.empty()) model = value;
    if (key == "flags" && widest.empty()) {
      const std::string flags = " " + value + " ";
      widest = flags.find(" avx512f ") != std::string::npos ? "avx512f"
               : flags.find(" avx2 ") != std::string::npos  ? "avx2"
                                                            : "no avx2";
    }
  }
  return model.empty() ? widest : widest.empty() ? model : model + " (" + widest + ")";
}

// Which CPU kernels the libraries were told to use (README "Checkpoints and resume"): the pins that are set, or
// "unpinned" (each library picks the widest the CPU has, and results differ between CPUs).
std::string cpu_kernel_pins() {
  std::string pins;
  for (const char* name : {"OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') pins += (pins.empty() ? "" : " ") + std::string(name) + "=" + value;
  }
  return pins.empty() ? "unpinned" : pins;
}

std::vector<std::pair<std::string, std::string>> provenance(const Experiment& experiment,
                                                            const RunEnvironment& environment) {
  const Params& run = experiment.section("run");
  std::vector<std::pair<std::string, std::string>> values{
      {"revision", environment.revision},
      {"dirty",
       environment.revision.size() > 6 && environment.revision.rfind("-dirty") == environment.revision.size() - 6
           ? "true"
           : "false"},
      {"compiler", fmt::format("{} {}", "gcc", __VERSION__)},
      {"build_type", ARMOR_BUILD_TYPE},
      {"torch_version", TORCH_VERSION},
      {"device", run.string("device")},
      {"threads", std::to_string(torch::get_num_threads())},
      {"cpu", cpu_description()},
      {"cpu_kernels", cpu_kernel_pins()},
  };
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  values.emplace_back("host", host);
  for (const std::string& library : environment.plugin_libraries) {
    const std::string name = std::filesystem::path(library).filename().string();
    values.emplace_back("plugin:" + name + ":path", library);
    values.emplace_back("plugin:" + name + ":sha256", sha256_file_hex(library));
  }
  return values;
}

// The trained model, twice: model.pt, a LibTorch archive armor reloads, and weights.pt, a dict of
// tensors keyed by parameter and buffer name that Python's torch.load reads as a state_dict.
void save_checkpoint(Classifier& model, RunStore& store, std::int64_t run_id, const std::string& output_dir) {
  if (output_dir.empty()) return;
  std::filesystem::create_directories(output_dir);
  const std::string path = output_dir + "/model.pt";
  torch::serialize::OutputArchive archive;
  model.save(archive);
  archive.save_to(path);
  store.records().record_artifact(run_id, "checkpoint", path, sha256_file_hex(path));
  const std::string weights = output_dir + "/weights.pt";
  save_state_dict(model, weights);
  store.records().record_artifact(run_id, "weights", weights, sha256_file_hex(weights));
}

// The [eval.attacks.<metric>] attacks, all or those whose metric `only` lists (when given).
std::vector<EvalAttack> make_eval_attacks(const Experiment& experiment, const Registry& registry,
                                          const std::vector<std::string>* only = nullptr) {
  std::vector<EvalAttack> eval_attacks;
  for (const Params& params : experiment.eval_attacks) {
    const std::string metric = eval_attack_metric(params);
    if (only != nullptr && std::find(only->begin(), only->end(), metric) == only->end()) continue;
    eval_attacks.push_back({metric,
                            make_component(registry, PluginKind::attack, params,
                                           [&] { return registry.attack(params.string("name"))(params); }),
                            params.integer("batch_size")});
  }
  return eval_attacks;
}

// Routing statistics and fixed-expert rows: one write per (layer, expert).
// [eval] certified_radius: paper 1's certified-radius estimate, added to the run's metrics.
void add_certified_radius(const Params& eval, Classifier& model, const LabelledImages& test, torch::Device device,
                          EvaluationResult& result) {
  if (!eval.boolean("certified_radius")) return;
  for (auto& metric :
       evaluate_certified_radius(model, test, eval.integer("batch_size"), device, eval.real("certified_eps"))) {
    result.metrics.push_back(std::move(metric));
  }
}

void record_expert_rows(RunStore& store, std::int64_t run_id, const EvaluationResult& result) {
  std::map<std::pair<std::string, int>, std::vector<std::pair<std::string, double>>> expert_values;
  for (const ExpertUsage& usage : result.usage) {
    expert_values[{usage.layer, static_cast<int>(usage.expert)}].emplace_back("usage_share", usage.share);
  }
  for (const RoutingStatistic& statistic : result.routing) {
    expert_values[{statistic.layer, static_cast<int>(statistic.expert)}].emplace_back(statistic.key, statistic.value);
  }
  for (const auto& [where, values] : expert_values)
    store.records().record_expert_metrics(run_id, where.first, where.second, values);
}

// "run 3 of /data/runs.db": who a checkpoint belongs to, in messages of other runs.
std::string run_owner(const RunStore& store, std::int64_t run_id) {
  const std::string& db = store.path();
  return fmt::format("run {} of {}", run_id, db == ":memory:" ? db : std::filesystem::absolute(db).string());
}

std::vector<ImageResult> to_image_results(const std::vector<ImageOutcome>& outcomes) {
  std::vector<ImageResult> images;
  for (const ImageOutcome& o : outcomes) images.push_back({o.image, o.clean_correct, o.robust, o.broken_by});
  return images;
}

std::vector<ImageOutcome> to_outcomes(const std::vector<ImageResult>& images) {
  std::vector<ImageOutcome> outcomes;
  for (const ImageResult& i : images) outcomes.push_back({i.image, i.clean_correct, i.robust, i.broken_by});
  return outcomes;
}

// The robustness curve of eval.curve (README "Robustness curves"), when set and (armor eval
// --attacks) among `attacks`: its attack rebuilt at every eps of the ladder, one row per test image.
void record_robustness_curve(const Experiment& experiment, const Registry& registry, RunStore& store,
                             std::int64_t run_id, Classifier& model, const LabelledImages& test, torch::Device device,
                             const std::vector<EvalAttack>& attacks) {
  const Params& eval = experiment.section("eval");
  const std::string& metric = eval.string("curve");
  if (metric.empty()) return;
  const auto evaluated =
      std::find_if(attacks.begin(), attacks.end(), [&](const EvalAttack& attack) { return attack.name == metric; });
  if (evaluated == attacks.end()) return;
  const auto params = std::find_if(experiment.eval_attacks.begin(), experiment.eval_attacks.end(),
                                   [&](const Params& p) { return eval_attack_metric(p) == metric; });
  CurveLadder ladder;
  ladder.metric = metric;
  ladder.points = eval.integer("curve_points");
  ladder.max_eps = eval.real("curve_max_eps") > 0.0 ? eval.real("curve_max_eps") : 2.0 * params->real("eps");
  ladder.batch_size = evaluated->batch_size > 0 ? evaluated->batch_size : eval.integer("batch_size");
  ladder.make_attack = [&, attack_params = *params](double eps) {
    Params at_eps = attack_params;
    at_eps.set("eps", eps, "eval.curve ladder");
    return make_component(registry, PluginKind::attack, at_eps,
                          [&] { return registry.attack(at_eps.string("name"))(at_eps); });
  };
  store.records().record_robustness_curve(run_id, ladder_curve(model, test, device, ladder));
}

// What each evaluation attack ran as, for the run's provenance: eval:<metric> -> describe().
void record_attack_descriptions(RunStore& store, std::int64_t run_id, const std::vector<EvalAttack>& attacks) {
  std::vector<std::pair<std::string, std::string>> values;
  for (const EvalAttack& attack : attacks) values.emplace_back("eval:" + attack.name, attack.attack->describe());
  if (!values.empty()) store.records().record_provenance(run_id, values);
}

// Who ran a process's share of a run: the keys of its provenance that can change between attempts
// and evaluations, recorded again under `prefix` so that a later process does not overwrite them.
std::vector<std::pair<std::string, std::string>> who_ran(
    const std::string& prefix, const std::vector<std::pair<std::string, std::string>>& provenance) {
  static const std::set<std::string> kWho{"revision", "dirty", "host", "cpu", "cpu_kernels", "threads"};
  std::vector<std::pair<std::string, std::string>> values;
  for (const auto& [key, value] : provenance) {
    if (kWho.count(key) != 0) values.emplace_back(prefix + key, value);
  }
  return values;
}

// A re-evaluation of a finished run keeps the provenance of the process that trained it; who
// computed each metric it adds is recorded beside it: reeval:<metric>:<key>, e.g.
// reeval:fgsm:revision.
void record_reevaluation(RunStore& store, std::int64_t run_id, const std::vector<EvalAttack>& attacks,
                         const std::vector<std::pair<std::string, std::string>>& evaluator) {
  std::vector<std::pair<std::string, std::string>> values;
  for (const EvalAttack& attack : attacks) {
    for (auto& entry : who_ran("reeval:" + attack.name + ":", evaluator)) values.push_back(std::move(entry));
  }
  if (!values.empty()) store.records().record_provenance(run_id, values);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The attack-validity checks of eval.checks (README "Attack-validity checks"), recorded in
// eval_checks with those the evaluation made on the way (`evaluation_checks`), with a one-line
// warning per flagged check. None without evaluation attacks, nor with eval.checks = "off".
// `evaluation_seconds`: how long the evaluation took, to say what the checks cost beside it.
void record_eval_checks(const Experiment& experiment, RunStore& store, std::int64_t run_id, Classifier& model,
                        const LabelledImages& test, torch::Device device, const std::vector<EvalAttack>& attacks,
                        const std::vector<EvalCheck>& evaluation_checks, double evaluation_seconds) {
  if (attacks.empty()) return;
  const CheckLevel level = check_level_from_string(experiment.section("eval").string("checks"));
  if (level == CheckLevel::off) return;
  const auto start = std::chrono::steady_clock::now();
  std::vector<EvalCheck> checks = run_eval_checks(model, test, device, level, attacks);
  checks.insert(checks.end(), evaluation_checks.begin(), evaluation_checks.end());
  if (checks.empty()) return;
  const double seconds = seconds_since(start);
  store.records().record_eval_checks(run_id, checks);
  const auto flagged = std::count_if(checks.begin(), checks.end(), [](const EvalCheck& c) { return c.flagged; });
  fmt::print("attack-validity checks: {} run, {} flagged, {:.2f} s ({:.1f}% of the evaluation's {:.2f} s)\n",
             checks.size(), flagged, seconds, evaluation_seconds > 0 ? 100.0 * seconds / evaluation_seconds : 0.0,
             evaluation_seconds);
  for (const EvalCheck& check : checks) {
    if (!check.flagged) continue;
    fmt::print(stderr, "armor: warning: run {}: attack-validity check {} flagged {}: {}\n", run_id, check.check,
               check.metric.empty() ? std::string("every robust metric") : check.metric, check.detail);
  }
}

}  // namespace

void execute_run(const Experiment& experiment, const Registry& registry, RunStore& store, std::int64_t run_id,
                 const RunEnvironment& environment) {
  const Params& run = experiment.section("run");
  check_device_available(run);  // planned elsewhere (a Slurm login node): this is the machine
  torch::set_num_threads(static_cast<int>(run.integer("threads")));
  torch::manual_seed(static_cast<std::uint64_t>(run.integer("seed")));
  const torch::Device device = run_device(run);

  const Params& data_params = experiment.section("data");
  auto data = make_component(registry, PluginKind::dataset, data_params,
                             [&] { return registry.dataset(data_params.string("name"))(data_params); });
  const LabelledImages limited = data->train.head(data_params.integer("train_limit"));
  const TrainValidation split =
      split_validation(limited, validation_count(data_params.real("validation"), limited.size()),
                       static_cast<std::uint64_t>(data_params.integer("validation_seed")));
  const LabelledImages& train = split.train;
  const LabelledImages test = data->test.head(data_params.integer("test_limit"));
  fmt::print("data: {} ({} train, {} validation, {} test images, {}x{}x{}, {} classes)\n", data->info.name,
             train.size(), split.validation.size(), test.size(), data->info.channels, data->info.height,
             data->info.width, data->info.num_classes);
  std::fflush(stdout);  // the run's output interleaves with the parent's in logs

  // Every balancing section: [balancing], then [balancing.also.<label>].
  std::vector<const Params*> balancing_sections{&experiment.section("balancing")};
  for (const Params& params : experiment.extra_balancing) balancing_sections.push_back(&params);
  const Params& model_params = experiment.section("model");
  auto model = make_model(experiment, registry, data->info, device);
  const EvaluationOptions eval_options = evaluation_options(experiment);
  check_evaluation_options(*model, eval_options);
  if (train.size() > 0) check_model_fits_data(*model, model_params.string("name"), train, data->info, device);

  BalancingTerm balancing;
  for (const Params* params : balancing_sections) {
    balancing.add(params->string("name"),
                  make_component(registry, PluginKind::balancing, *params,
                                 [&] { return registry.balancing(params->string("name"))(*params); }),
                  params->real("weight"));
  }

  const Params& attack_params = experiment.section("attack");
  auto attack = make_component(registry, PluginKind::attack, attack_params,
                               [&] { return registry.attack(attack_params.string("name"))(attack_params); });
  const std::vector<EvalAttack> eval_attacks = make_eval_attacks(experiment, registry);
  const Params& trainer_params = experiment.section("trainer");
  auto trainer = make_component(registry, PluginKind::trainer, trainer_params,
                                [&] { return registry.trainer(trainer_params.string("name"))(trainer_params); });

  auto run_provenance = provenance(experiment, environment);
  run_provenance.emplace_back("train_images", std::to_string(train.size()));
  run_provenance.emplace_back("validation_images", std::to_string(split.validation.size()));
  run_provenance.emplace_back("test_images", std::to_string(test.size()));
  // The unprefixed keys say who ran the last attempt; attempt:<n>:<key> keeps each attempt's.
  const auto attempt = who_ran(fmt::format("attempt:{}:", store.reader().run(run_id).attempt), run_provenance);
  run_provenance.insert(run_provenance.end(), attempt.begin(), attempt.end());
  store.records().record_provenance(run_id, run_provenance);
  StoreMetricSink sink(store, run_id, environment);
  TrainContext context{
      *model, train, device, attack.get(), balancing, sink, static_cast<std::uint64_t>(experiment.seed())};
  context.augmentation = AugmentationOptions::from(data_params);
  if (split.validation.size() > 0) context.validation = &split.validation;
  context.validation_every = experiment.section("eval").integer("validation_every");
  context.validation_batch_size = experiment.section("eval").integer("batch_size");
  if (!environment.output_dir.empty()) {
    // A checkpoint left by an earlier attempt of this run (killed, interrupted) is where it goes on.
    // Only its own: the checkpoint carries the run's uid and the hash of the config as resolved now
    // (an armor whose plugins resolve the recorded config differently refuses to continue it), and
    // the launcher checked (check_resumable_checkpoint) that it is the file runs.db recorded.
    context.checkpoint = {environment.output_dir + "/checkpoint.pt",
                          run.integer("checkpoint_every"),
                          /*resume=*/true,
                          store.reader().run(run_id).uid,
                          experiment.hash(),
                          run_owner(store, run_id)};
  }
  trainer->fit(context);

  const auto evaluation_start = std::chrono::steady_clock::now();
  EvaluationResult result = evaluate(*model, test, eval_options, device, eval_attacks);
  const double evaluation_seconds = seconds_since(evaluation_start);
  add_certified_radius(experiment.section("eval"), *model, test, device, result);
  record_eval_checks(experiment, store, run_id, *model, test, device, eval_attacks, result.checks,
                     evaluation_seconds);
  record_robustness_curve(experiment, registry, store, run_id, *model, test, device, eval_attacks);
  save_checkpoint(*model, store, run_id, environment.output_dir);
  record_expert_rows(store, run_id, result);
  record_attack_descriptions(store, run_id, eval_attacks);
  if (!result.images.empty()) store.records().record_image_results(run_id, to_image_results(result.images));
  store.queue().finish_run(run_id, result.metrics);
}

void execute_evaluation(const Experiment& experiment, const Registry& registry, RunStore& store, std::int64_t run_id,
                        const EvaluationRequest& request, const RunEnvironment& environment) {
  const Params& run = experiment.section("run");
  check_device_available(run);
  torch::set_num_threads(static_cast<int>(run.integer("threads")));
  torch::manual_seed(static_cast<std::uint64_t>(run.integer("seed")));
  const torch::Device device = run_device(run);
  if (!request.checkpoint.empty() && !std::filesystem::is_regular_file(request.checkpoint)) {
    throw UsageError(fmt::format("run {} has no checkpoint at {} (was it trained by an armor that saved one?)", run_id,
                                 request.checkpoint));
  }
  const Params& data_params = experiment.section("data");
  auto data = make_component(registry, PluginKind::dataset, data_params,
                             [&] { return registry.dataset(data_params.string("name"))(data_params); });
  const LabelledImages test = data->test.head(data_params.integer("test_limit"));
  fmt::print("data: {} ({} test images)\n", data->info.name, test.size());
  std::fflush(stdout);
  auto model = make_model(experiment, registry, data->info, device);
  if (!request.checkpoint.empty()) {
    torch::serialize::InputArchive archive;
    try {
      archive.load_from(request.checkpoint, device);
    } catch (const c10::Error& error) {
      throw RunError(fmt::format("{} is not a LibTorch archive: {}", request.checkpoint,
                                 last_line(error.what_without_backtrace())));
    }
    load_module_strict(*model, archive, request.checkpoint);
    model->to(device);
  }
  if (test.size() > 0)
    check_model_fits_data(*model, experiment.section("model").string("name"), test, data->info, device);
  const EvaluationOptions options = evaluation_options(experiment);
  const std::vector<EvalAttack> attacks =
      make_eval_attacks(experiment, registry, request.attacks.empty() ? nullptr : &request.attacks);
  std::vector<std::pair<std::string, std::string>> run_provenance = provenance(experiment, environment);
  run_provenance.emplace_back("test_images", std::to_string(test.size()));
  if (!request.add_to_finished_run) store.records().record_provenance(run_id, run_provenance);

  const auto evaluation_start = std::chrono::steady_clock::now();
  EvaluationResult result = evaluate(*model, test, options, device, attacks);
  const double evaluation_seconds = seconds_since(evaluation_start);
  add_certified_radius(experiment.section("eval"), *model, test, device, result);
  record_eval_checks(experiment, store, run_id, *model, test, device, attacks, result.checks, evaluation_seconds);
  record_robustness_curve(experiment, registry, store, run_id, *model, test, device, attacks);
  record_expert_rows(store, run_id, result);
  record_attack_descriptions(store, run_id, attacks);
  if (request.add_to_finished_run) record_reevaluation(store, run_id, attacks, run_provenance);
  if (!request.add_to_finished_run) {
    if (!result.images.empty()) store.records().record_image_results(run_id, to_image_results(result.images));
    store.queue().finish_run(run_id, result.metrics);
    return;
  }
  // A finished run keeps the clean accuracy it was recorded with; say so when this one differs.
  MetricValues added;
  const auto recorded = store.reader().metrics(run_id);
  for (const auto& [key, value] : result.metrics) {
    if (key == "clean_acc") {
      const auto it = recorded.find("clean_acc");
      if (it != recorded.end() && std::abs(it->second - value) > 1e-9) {
        fmt::print(stderr, "armor: warning: run {} has clean_acc {:.4f}, its checkpoint now gives {:.4f}\n", run_id,
                   it->second, value);
      }
      continue;
    }
    if (key == "worst_case_acc") continue;  // recomputed below over every attack the run has seen
    added.emplace_back(key, value);
  }
  if (!result.images.empty()) {
    const std::vector<ImageOutcome> combined =
        combine_outcomes(to_outcomes(store.reader().image_results(run_id)), result.images);
    store.records().record_image_results(run_id, to_image_results(combined));
    added.emplace_back("worst_case_acc", worst_case_accuracy(combined));
  }
  store.records().add_metrics(run_id, added);
}

}  // namespace armor
