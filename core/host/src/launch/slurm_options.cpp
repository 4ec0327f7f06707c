#include "armor/launch/slurm_options.h"

#include <algorithm>
#include <sstream>

#include <fmt/core.h>
#include <toml++/toml.h>

#include "armor/error.h"

namespace armor {

void apply_slurm_config_file(SlurmOptions& slurm, const std::set<std::string>& given) {
  if (slurm.config_file.empty()) return;
  toml::table file;
  try {
    file = toml::parse_file(slurm.config_file);
  } catch (const toml::parse_error& error) {
    std::ostringstream where;
    where << error.source().begin;
    throw ConfigError(slurm.config_file + ":" + where.str() + ": " + std::string(error.description()));
  }
  const toml::table* table = file["slurm"].as_table();
  if (table == nullptr) throw ConfigError(slurm.config_file + ": has no [slurm] table");
  const auto bad = [&](const std::string& key, const char* expected) {
    return ConfigError(fmt::format("{}: slurm.{} must be {}", slurm.config_file, key, expected));
  };
  for (const auto& [key, node] : *table) {
    const std::string name(key.str());
    const auto from_command_line = [&](const std::string& option) { return given.count(option) > 0; };
    if (name == "partition" || name == "time" || name == "gpus_per_task") {
      const auto* text = node.as_string();
      if (text == nullptr && !(name == "gpus_per_task" && node.is_integer())) throw bad(name, "a string");
      const std::string value = text != nullptr ? text->get() : std::to_string(node.as_integer()->get());
      std::string option = "slurm-" + name;
      for (char& c : option) c = c == '_' ? '-' : c;
      if (from_command_line(option)) continue;
      (name == "partition" ? slurm.partition : name == "time" ? slurm.time : slurm.gpus_per_task) = value;
    } else if (name == "cpus_per_task" || name == "runs_per_task" || name == "max_parallel") {
      const auto* number = node.as_integer();
      if (number == nullptr) throw bad(name, "an integer");
      std::string option = "slurm-" + name;
      for (char& c : option) c = c == '_' ? '-' : c;
      if (from_command_line(option)) continue;
      (name == "cpus_per_task"   ? slurm.cpus_per_task
       : name == "runs_per_task" ? slurm.runs_per_task
                                 : slurm.max_parallel) = static_cast<int>(number->get());
    } else if (name == "sbatch_options") {
      const auto* list = node.as_array();
      if (list == nullptr) throw bad(name, "an array of strings");
      std::vector<std::string> options;
      for (const auto& item : *list) {
        if (!item.is_string()) throw bad(name, "an array of strings");
        options.push_back(item.as_string()->get());
      }
      // The file's options first, the command line's after: sbatch takes the last of a repeated one.
      options.insert(options.end(), slurm.sbatch_options.begin(), slurm.sbatch_options.end());
      slurm.sbatch_options = std::move(options);
    } else {
      throw ConfigError(
          fmt::format("{}: unknown key slurm.{} (known: partition, time, cpus_per_task, gpus_per_task, "
                      "runs_per_task, max_parallel, sbatch_options)",
                      slurm.config_file, name));
    }
  }
}

void check_slurm_options(const SlurmOptions& slurm) {
  if (slurm.launcher != "local" && slurm.launcher != "slurm") {
    throw UsageError("--launcher must be local or slurm (got '" + slurm.launcher + "')");
  }
  if (slurm.cpus_per_task < 0)
    throw UsageError(fmt::format("--slurm-cpus-per-task must be >= 0 (got {})", slurm.cpus_per_task));
  if (slurm.runs_per_task < 1)
    throw UsageError(fmt::format("--slurm-runs-per-task must be >= 1 (got {})", slurm.runs_per_task));
  if (slurm.max_parallel < 0)
    throw UsageError(fmt::format("--slurm-max-parallel must be >= 0 (got {})", slurm.max_parallel));
  if (!(slurm.poll_seconds > 0))
    throw UsageError(fmt::format("--poll-seconds must be > 0 (got {})", slurm.poll_seconds));
  for (const auto& option : slurm.sbatch_options) {
    if (option.rfind("-", 0) != 0) {
      throw UsageError("--sbatch-option takes an sbatch option such as --account=name (got '" + option + "')");
    }
  }
}

std::int64_t slurm_threads_per_run(const SlurmOptions& slurm) { return std::max(1, slurm.cpus_per_task); }

}  // namespace armor
