#include "armor/run/plan_checks.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include <fmt/core.h>
#include <toml++/toml.h>
#include <torch/torch.h>

#include "armor/attack/attack.h"
#include "armor/data/dataset.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/plugin/registry.h"
#include "armor/run/evaluation.h"
#include "armor/run/run_executor.h"
#include "armor/util/suggest.h"

namespace armor {
namespace {

// The resolved TOML of some sections of a point: the cache key of what they build.
std::string sections_text(const Experiment& experiment, const std::vector<std::string>& names) {
  toml::table part;
  for (const auto& name : names) {
    if (const toml::node* node = experiment.resolved.get(name)) part.insert(name, *node);
  }
  std::ostringstream out;
  out << toml::toml_formatter(part, toml::format_flags::none);
  return out.str();
}

// What planning needs to know of a built model.
struct ModelFacts {
  std::vector<std::string> moe_layers;
  bool dual = false;
};

// The checks that span sections, made on what the run would build (the dataset's shape, the
// model, the attacks), so that a bad value is refused before the sweep is written instead of
// becoming failed runs. Datasets are probed (headers, file sizes) and models built once per
// distinct config: a 100-run sweep over lr builds its model once.
class PlanChecks {
 public:
  PlanChecks(const Registry& registry, PlanTarget target)
      : registry_(registry),
        data_must_exist_(target != PlanTarget::dry_run),
        device_must_exist_(target == PlanTarget::here) {}

  void check(const Experiment& experiment) {
    if (device_must_exist_) check_device_available(experiment.section("run"));
    const std::optional<DatasetShape> shape = dataset_shape(experiment);
    if (shape) check_data_sizes(experiment.section("data"), *shape);
    check_threat_ball(experiment.section("attack"), shape);
    for (const Params& attack : experiment.eval_attacks) check_threat_ball(attack, shape);
    if (shape) check_evaluation(experiment, model_facts(experiment, shape->info));
  }

 private:
  // The dataset's shape from its probe; none when it has no probe (a plugin's), or when the data
  // need not exist yet (`armor config`) and cannot be read.
  std::optional<DatasetShape> dataset_shape(const Experiment& experiment) {
    const std::string key = sections_text(experiment, {"data"});
    if (const auto it = shapes_.find(key); it != shapes_.end()) return it->second;
    const Params& data = experiment.section("data");
    const DatasetShapeProbe* probe = registry_.dataset_shape(data.string("name"));
    std::optional<DatasetShape> shape;
    if (probe != nullptr) {
      try {
        shape = (*probe)(data);
      } catch (const ConfigError&) {
        if (data_must_exist_) throw;
      } catch (const DataError& error) {
        // The run would fail reading it: say so now, naming where the path came from.
        if (data_must_exist_) {
          if (data.has("path")) data.fail("path", std::string("cannot be read: ") + error.what());
          throw ConfigError("data (dataset '" + data.string("name") + "'): " + error.what());
        }
      }
    }
    shapes_.emplace(key, shape);
    return shape;
  }

  void check_data_sizes(const Params& data, const DatasetShape& shape) {
    const std::string& name = data.string("name");
    const std::int64_t train_limit = data.integer("train_limit");
    if (train_limit > shape.train_size) {
      data.fail("train_limit",
                fmt::format("exceeds the {} training images of dataset '{}' (0 = all)", shape.train_size, name));
    }
    const std::int64_t test_limit = data.integer("test_limit");
    if (test_limit > shape.test_size) {
      data.fail("test_limit",
                fmt::format("exceeds the {} test images of dataset '{}' (0 = all)", shape.test_size, name));
    }
    const std::int64_t train = train_limit > 0 ? train_limit : shape.train_size;
    const double validation = data.real("validation");
    if (validation <= 0) return;
    const auto count = validation < 1 ? static_cast<std::int64_t>(std::llround(validation * static_cast<double>(train)))
                                      : static_cast<std::int64_t>(validation);
    const std::string of =
        fmt::format("of the {} training images{}", train, train_limit > 0 ? " (data.train_limit)" : "");
    if (count >= train)
      data.fail("validation", fmt::format("leaves no training data: {} {} would be held out", count, of));
    if (count == 0) data.fail("validation", "holds out no image " + of + " (0 = no validation split)");
  }

  // Pixels lie in [0,1]^d: an L-infinity radius above 1, or an L2 radius above the box's
  // diameter sqrt(d), is a ball holding every image (usually a radius given in 0..255 units).
  void check_threat_ball(const Params& params, const std::optional<DatasetShape>& shape) {
    std::shared_ptr<Attack> attack;
    try {
      attack = registry_.attack(params.string("name"))(params);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& error) {
      throw ConfigError(params.section() + " (attack '" + params.string("name") +
                        "') cannot be built: " + describe_exception(error));
    }
    const std::optional<ThreatBall> ball = attack ? attack->threat_ball() : std::nullopt;
    if (!ball) return;
    std::string problem;
    if (ball->norm == Norm::linf && ball->eps > 1)
      problem = "must be <= 1 for an L-infinity ball (pixels lie in [0,1])";
    if (ball->norm == Norm::l2 && shape) {
      const DatasetInfo& info = shape->info;
      const double diameter = std::sqrt(static_cast<double>(info.channels * info.height * info.width));
      if (ball->eps > diameter) {
        problem = fmt::format(
            "must be <= {:.4g} for an L2 ball: the diameter sqrt(C*H*W) of the [0,1] box of {}x{}x{} images", diameter,
            info.channels, info.height, info.width);
      }
    }
    if (problem.empty()) return;
    if (params.has("eps")) params.fail("eps", problem);
    throw ConfigError(params.section() + " (attack '" + params.string("name") + "'): radius " +
                      fmt::format("{}", ball->eps) + " " + problem);
  }

  // Builds the model on the CPU as the run would (gates included), once per distinct config.
  const ModelFacts& model_facts(const Experiment& experiment, const DatasetInfo& info) {
    const std::string key =
        sections_text(experiment, {"model", "gate", "balancing"}) +
        fmt::format("{} {} {} {} {}", info.name, info.channels, info.height, info.width, info.num_classes);
    if (const auto it = models_.find(key); it != models_.end()) return it->second;
    const Params& model_params = experiment.section("model");
    ModelFacts facts;
    try {
      // A factory that throws is a PluginError naming its library, as in the run.
      const std::shared_ptr<Classifier> model = make_model(experiment, registry_, info, torch::kCPU);
      for (const auto& [name, layer] : model->moe_layers()) facts.moe_layers.push_back(name);
      facts.dual = model->dual_model() != nullptr;
      check_evaluation(experiment, facts);
      // The host's own checks too, in case they know more than the ones above.
      check_evaluation_options(*model, evaluation_options(experiment));
    } catch (const Error&) {
      throw;
    } catch (const std::exception& error) {
      throw ConfigError("model '" + model_params.string("name") +
                        "' cannot be built from [model] and [gate]: " + describe_exception(error));
    }
    return models_.emplace(key, std::move(facts)).first->second;
  }

  // What [eval] asks of the model (check_evaluation_options' rules, with the value's origin).
  static void check_evaluation(const Experiment& experiment, const ModelFacts& model) {
    const Params& eval = experiment.section("eval");
    const bool moe = !model.moe_layers.empty();
    if (eval.boolean("route_attacks") && !moe)
      eval.fail("route_attacks", "needs a MoE model; this model has no MoE layer");
    if (eval.boolean("route_change") && !moe)
      eval.fail("route_change", "needs a MoE model; this model has no MoE layer");
    const std::string& layer = eval.string("fixed_expert_layer");
    if (!layer.empty() &&
        std::find(model.moe_layers.begin(), model.moe_layers.end(), layer) == model.moe_layers.end()) {
      std::string names;
      for (const auto& name : model.moe_layers) names += (names.empty() ? "" : ", ") + name;
      eval.fail("fixed_expert_layer",
                "names no MoE layer of this model (its MoE layers: " + (names.empty() ? "none" : names) + ")" +
                    did_you_mean(layer, model.moe_layers));
    }
    if (eval.boolean("dual_members") && !model.dual) {
      eval.fail("dual_members", "needs a dual model (model.name = \"dual_moe\")");
    }
  }

  const Registry& registry_;
  bool data_must_exist_;
  bool device_must_exist_;
  std::map<std::string, std::optional<DatasetShape>> shapes_;
  std::map<std::string, ModelFacts> models_;
};

}  // namespace

void check_plan(const SweepPlan& plan, const Registry& registry, PlanTarget target) {
  PlanChecks checks(registry, target);
  for (const PlannedRun& run : plan.runs) checks.check(run.experiment);
}

}  // namespace armor
