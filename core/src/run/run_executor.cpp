#include "armor/run/run_executor.h"

#include <unistd.h>

#include <filesystem>

#include <fmt/core.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "armor/attack/attack.h"
#include "armor/data/dataset.h"
#include "armor/error.h"
#include "armor/nn/balancing_loss.h"
#include "armor/nn/classifier.h"
#include "armor/nn/gate.h"
#include "armor/plugin/registry.h"
#include "armor/run/evaluation.h"
#include "armor/run/experiment.h"
#include "armor/store/run_store.h"
#include "armor/train/balancing_term.h"
#include "armor/train/metric_sink.h"
#include "armor/train/trainer.h"
#include "armor/util/sha256.h"

namespace armor {
namespace {

// Writes each epoch's metrics to runs.db as soon as the trainer reports them.
class StoreMetricSink : public MetricSink {
 public:
  StoreMetricSink(RunStore& store, std::int64_t run_id) : store_(store), run_id_(run_id) {}
  void epoch_end(int epoch, const MetricValues& values) override { store_.record_epoch_metrics(run_id_, epoch, values); }

 private:
  RunStore& store_;
  std::int64_t run_id_;
};

// Calls a factory; exceptions other than armor's own become PluginErrors naming the library.
template <typename Make>
auto make_component(const Registry& registry, PluginKind kind, const Params& params, Make&& make) {
  const std::string& name = params.string("name");
  try {
    auto component = make();
    if (!component) throw PluginError(registry.info(kind, name).library, std::string(to_string(kind)) + " '" + name + "' factory returned nothing");
    return component;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& error) {
    throw PluginError(registry.info(kind, name).library,
                      std::string(to_string(kind)) + " '" + name + "' could not be built: " + error.what());
  }
}

torch::Device run_device(const Params& run) { return torch::Device(run.string("device")); }

}  // namespace

void validate_device(const Params& run) {
  const std::string& text = run.string("device");
  std::optional<torch::Device> device;
  try {
    device.emplace(text);
  } catch (const std::exception&) {
    run.fail("device", "must be cpu, cuda or cuda:N");
  }
  if (device->is_cuda()) {
    if (!torch::cuda::is_available()) {
      run.fail("device", "asks for CUDA, but this LibTorch build has no CUDA or no GPU is visible");
    }
    if (device->has_index() && device->index() >= static_cast<int>(torch::cuda::device_count())) {
      run.fail("device", fmt::format("names a GPU that does not exist ({} visible)", torch::cuda::device_count()));
    }
  } else if (!device->is_cpu()) {
    run.fail("device", "must be cpu, cuda or cuda:N");
  }
}

namespace {

std::vector<std::pair<std::string, std::string>> provenance(const Experiment& experiment, const RunEnvironment& environment) {
  const Params& run = experiment.section("run");
  std::vector<std::pair<std::string, std::string>> values{
      {"revision", environment.revision},
      {"dirty", environment.revision.size() > 6 && environment.revision.rfind("-dirty") == environment.revision.size() - 6 ? "true" : "false"},
      {"compiler", fmt::format("{} {}", "gcc", __VERSION__)},
      {"build_type", ARMOR_BUILD_TYPE},
      {"torch_version", TORCH_VERSION},
      {"device", run.string("device")},
      {"threads", std::to_string(torch::get_num_threads())},
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

void save_checkpoint(Classifier& model, RunStore& store, std::int64_t run_id, const std::string& output_dir) {
  if (output_dir.empty()) return;
  std::filesystem::create_directories(output_dir);
  const std::string path = output_dir + "/model.pt";
  torch::serialize::OutputArchive archive;
  model.save(archive);
  archive.save_to(path);
  store.record_artifact(run_id, "checkpoint", path, sha256_file_hex(path));
}

}  // namespace

void execute_run(const Experiment& experiment, const Registry& registry, RunStore& store, std::int64_t run_id,
                 const RunEnvironment& environment) {
  const Params& run = experiment.section("run");
  torch::set_num_threads(static_cast<int>(run.integer("threads")));
  torch::manual_seed(static_cast<std::uint64_t>(run.integer("seed")));
  const torch::Device device = run_device(run);

  const Params& data_params = experiment.section("data");
  auto data = make_component(registry, PluginKind::dataset, data_params,
                             [&] { return registry.dataset(data_params.string("name"))(data_params); });
  const LabelledImages train = data->train.head(data_params.integer("train_limit"));
  const LabelledImages test = data->test.head(data_params.integer("test_limit"));
  fmt::print("data: {} ({} train, {} test images, {}x{}x{}, {} classes)\n", data->info.name, train.size(), test.size(),
             data->info.channels, data->info.height, data->info.width, data->info.num_classes);
  std::fflush(stdout);  // the run's output interleaves with the parent's in logs

  const Params& gate_params = experiment.section("gate");
  ModelContext model_context;
  model_context.data = &data->info;
  model_context.make_gate = [&](const GateShape& shape) {
    return make_component(registry, PluginKind::gate, gate_params,
                          [&] { return registry.gate(gate_params.string("name"))(gate_params, shape); });
  };
  const Params& model_params = experiment.section("model");
  auto model = make_component(registry, PluginKind::model, model_params,
                              [&] { return registry.model(model_params.string("name"))(model_params, model_context); });
  model->to(device);

  const Params& balancing_params = experiment.section("balancing");
  auto balancing_loss = make_component(registry, PluginKind::balancing, balancing_params, [&] {
    return registry.balancing(balancing_params.string("name"))(balancing_params);
  });
  const BalancingTerm balancing(balancing_loss, balancing_params.real("weight"));

  const Params& attack_params = experiment.section("attack");
  auto attack = make_component(registry, PluginKind::attack, attack_params,
                               [&] { return registry.attack(attack_params.string("name"))(attack_params); });
  std::vector<EvalAttack> eval_attacks;
  for (const Params& params : experiment.eval_attacks) {
    eval_attacks.push_back({eval_attack_metric(params), make_component(registry, PluginKind::attack, params, [&] {
                              return registry.attack(params.string("name"))(params);
                            })});
  }
  const Params& trainer_params = experiment.section("trainer");
  auto trainer = make_component(registry, PluginKind::trainer, trainer_params,
                                [&] { return registry.trainer(trainer_params.string("name"))(trainer_params); });

  store.record_provenance(run_id, provenance(experiment, environment));
  StoreMetricSink sink(store, run_id);
  TrainContext context{*model, train, device, attack.get(), balancing, sink, static_cast<std::uint64_t>(experiment.seed())};
  trainer->fit(context);

  const EvaluationResult result =
      evaluate(*model, test, experiment.section("eval").integer("batch_size"), device, eval_attacks);
  save_checkpoint(*model, store, run_id, environment.output_dir);
  for (const ExpertUsage& usage : result.usage) {
    store.record_expert_metrics(run_id, usage.layer, static_cast<int>(usage.expert), {{"usage_share", usage.share}});
  }
  store.finish_run(run_id, result.metrics);
}

}  // namespace armor
