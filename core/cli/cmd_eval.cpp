// armor eval RUN_ID [overrides...] | --model-file F EXPERIMENT.toml [overrides...]: the options;
// the work is the run side's (armor/run/evaluate_command.h).

#include <charconv>

#include <fmt/core.h>

#include "armor/error.h"
#include "command.h"

namespace armor::app {
namespace {

constexpr const char* kUsage =
    "armor eval RUN_ID [key=value ...] [options]\n"
    "armor eval --model-file MODEL.pt EXPERIMENT.toml [key=value ...] [options]\n\n"
    "RUN_ID: evaluates a finished run again from its checkpoint (<output_dir>/model.pt) and adds the\n"
    "metrics to the same run (its clean_acc stays; worst_case_acc then covers every attack it has seen).\n"
    "Overrides may change eval.* (e.g. +eval.attacks.aa.name=autoattack, eval.route_attacks=true),\n"
    "run.device and run.threads. The attacks that run: those the overrides add or change, or every\n"
    "[eval.attacks] table when none is (or the --attacks list).\n"
    "--new-run: evaluates the run's checkpoint as a new run (every attack) whose overrides may also change\n"
    "model.* keys the checkpoint still fits, e.g. model.alpha of a trained dual model; the new run records\n"
    "--from-run=RUN_ID and the checkpoint's sha256. The run itself stays as it was.\n"
    "--model-file: evaluates a TorchScript model (torch.jit.save; inputs in [0,1], logits out) on the\n"
    "experiment's [data] and [eval]; [model] becomes {name = \"torchscript\", path = MODEL.pt}; no\n"
    "training. Recorded as a new finished run.";

}  // namespace

int eval_command(const std::vector<std::string>& args) {
  HostOptions host;
  EvalRequest request;
  std::vector<std::string> positional_args;
  po::options_description visible("options");
  visible.add_options()("model-file", po::value(&request.model_file)->value_name("MODEL.pt"),
                        "Evaluate this TorchScript model with EXPERIMENT's data and eval sections (a new run)")(
      "attacks", po::value(&request.attacks)->value_name("A,B"),
      "RUN_ID: run these [eval.attacks] metrics (default: those the overrides add or change, else all)")(
      "new-run", po::bool_switch(&request.new_run),
      "RUN_ID: evaluate its checkpoint as a new run (overrides may change model.*, e.g. model.alpha)")(
      "outputs", po::value(&request.outputs)->default_value("outputs"),
      "--model-file and --new-run: root of the run folder (<outputs>/eval/<run>)");
  add_db_option(visible, host);
  add_plugin_path_option(visible, host);
  po::options_description hidden;
  hidden.add_options()("args", po::value(&positional_args)->composing(), "");
  po::positional_options_description positional;
  positional.add("args", -1);
  po::variables_map values;
  if (!parse_command_line(kUsage, args, visible, hidden, positional, values)) return kExitOk;
  if (positional_args.empty())
    throw UsageError(std::string("armor eval needs a RUN_ID or --model-file F EXPERIMENT.toml\nusage: ") + kUsage);
  warn_if_reference_blas();
  request.db = host.db;
  request.plugins = plugin_search(host);
  const std::string first = positional_args.front();
  request.overrides.assign(positional_args.begin() + 1, positional_args.end());
  if (!request.model_file.empty()) {
    if (request.new_run) throw UsageError("--new-run applies to armor eval RUN_ID, not to --model-file");
    request.experiment = first;
    return run_side().evaluate(request);
  }
  const auto [end, error] = std::from_chars(first.data(), first.data() + first.size(), request.run_id);
  if (error != std::errc() || end != first.data() + first.size() || request.run_id <= 0) {
    throw UsageError(
        fmt::format("armor eval: '{}' is not a run id (to evaluate a model file: --model-file F {})", first, first));
  }
  return run_side().evaluate(request);
}

}  // namespace armor::app
