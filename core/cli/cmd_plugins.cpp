// armor plugins [show KIND/NAME]: what the registry holds, and one component's parameters.

#include <filesystem>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/params/param_schema.h"
#include "command.h"

namespace armor::app {
namespace {

std::string describe_range(const ParamSpec& spec) {
  if (!spec.choices.empty()) {
    std::string list;
    for (const auto& choice : spec.choices) list += (list.empty() ? "" : "|") + choice;
    return list;
  }
  if (!spec.min && !spec.max) return "";
  return fmt::format("[{}, {}]", spec.min ? fmt::format("{}", *spec.min) : "-inf",
                     spec.max ? fmt::format("{}", *spec.max) : "inf");
}

int show_component(const Catalog& registry, const std::string& target) {
  const auto slash = target.find('/');
  if (slash == std::string::npos) throw UsageError("expected KIND/NAME, e.g. gate/topk (got '" + target + "')");
  const ComponentInfo& info = registry.info(plugin_kind_from_string(target.substr(0, slash)), target.substr(slash + 1));
  fmt::print("{} {}: {}\nlibrary: {}\n\n", to_string(info.kind), info.name, info.summary, info.library);
  std::vector<std::vector<std::string>> rows;
  for (const ParamSpec& spec : info.params.specs()) {
    rows.push_back(
        {spec.name, to_string(spec.type), to_display_string(spec.default_value), describe_range(spec), spec.doc});
  }
  if (rows.empty()) {
    fmt::print("(no parameters besides name)\n");
  } else {
    print_table({"parameter", "type", "default", "allowed", "doc"}, rows);
  }
  if (!info.params.constraints().empty()) fmt::print("\nconstraints:\n");
  for (const ParamConstraint& constraint : info.params.constraints()) {
    fmt::print("  {}    {}\n", constraint.expression, constraint.doc);
  }
  return kExitOk;
}

}  // namespace

int plugins_command(const std::vector<std::string>& args) {
  HostOptions host;
  std::vector<std::string> positional_args;
  po::options_description visible("options");
  add_plugin_path_option(visible, host);
  po::options_description hidden;
  hidden.add_options()("args", po::value(&positional_args)->composing(), "");
  po::positional_options_description positional;
  positional.add("args", -1);
  po::variables_map values;
  if (!parse_command_line("armor plugins               list every registered component\n"
                          "       armor plugins show KIND/NAME  its parameters (e.g. armor plugins show gate/topk)",
                          args, visible, hidden, positional, values)) {
    return kExitOk;
  }
  const Catalog& registry = run_side().load_plugins(plugin_search(host));
  if (!positional_args.empty()) {
    if (positional_args[0] != "show" || positional_args.size() != 2) {
      throw UsageError("expected `armor plugins` or `armor plugins show KIND/NAME`");
    }
    return show_component(registry, positional_args[1]);
  }
  std::vector<std::vector<std::string>> rows;
  for (const ComponentInfo* info : registry.components()) {
    rows.push_back(
        {to_string(info->kind), info->name, std::filesystem::path(info->library).filename().string(), info->summary});
  }
  print_table({"kind", "name", "library", "summary"}, rows);
  return kExitOk;
}

}  // namespace armor::app
