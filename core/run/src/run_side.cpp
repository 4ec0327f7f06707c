// The run side's entry point: the RunSide the armor program loads with run_side() (host/run_side.h).

#include <memory>

#include "armor/data/builtin_datasets.h"
#include "armor/error.h"
#include "armor/host/plugin_manifest.h"
#include "armor/host/run_side.h"
#include "armor/plugin/plugin_loader.h"
#include "armor/plugin/registry.h"
#include "armor/run/checkpoint_check.h"
#include "armor/run/evaluate_command.h"
#include "armor/run/exec_run.h"
#include "armor/run/plan_checks.h"
#include "armor/run/run_executor.h"
#include "armor/util/blas_check.h"

namespace armor {
namespace {

class TorchRunSide : public RunSide {
 public:
  const Catalog& load_plugins(const PluginSearch& search) override { return registry(search); }

  std::vector<std::string> plugin_libraries() const override { return libraries_; }

  void check_plan(const SweepPlan& plan, PlanTarget target) override { armor::check_plan(plan, loaded(), target); }

  int execute_run(const ExecRunRequest& request) override {
    return execute_claimed_run(request, registry(request.plugins), libraries_);
  }

  int evaluate(const EvalRequest& request) override {
    return evaluate_command(request, registry(request.plugins), libraries_);
  }

  void check_checkpoint(const ResultsReader& store, const RunRecord& run) const override {
    check_resumable_checkpoint(store, run);
  }

  std::optional<std::string> reference_blas_warning() const override { return armor::reference_blas_warning(); }

  std::string describe(const std::exception& error) const override { return describe_exception(error); }

 private:
  // Loaded once: its factories point into plugin libraries that are never unloaded.
  const Registry& registry(const PluginSearch& search) {
    if (registry_) return *registry_;
    auto registry = std::make_unique<Registry>();
    register_builtin_datasets(*registry);
    PluginLoader loader(*registry);
    loader.load_search_path(search.cli_paths, search.default_dirs);
    write_manifest(*registry, "built-in");
    for (const auto& plugin : loader.loaded()) {
      libraries_.push_back(plugin.path);
      write_manifest(*registry, plugin.path);
    }
    registry_ = std::move(registry);
    return *registry_;
  }

  const Registry& loaded() const {
    if (!registry_) throw Error("the run side was asked to check a plan before loading the plugins");
    return *registry_;
  }

  std::unique_ptr<Registry> registry_;
  std::vector<std::string> libraries_;
};

}  // namespace
}  // namespace armor

extern "C" armor::RunSide* armor_run_side() {
  static auto* side = new armor::TorchRunSide();  // lives as long as the process, like the plugins
  return side;
}
