#include "armor/query/removal.h"

#include <filesystem>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/launch/run_folder.h"
#include "armor/query/run_values.h"
#include "armor/store/run_store.h"

namespace armor::app {
namespace {

// Only a folder whose identity names the removed run goes with it: one that names another run (of
// this or another database) or none (an older armor's, perhaps shared) is left, and said so.
bool removable_run_folder(const std::string& folder, const std::string& uid, std::vector<std::string>& notes) {
  if (!std::filesystem::exists(folder)) return false;
  try {
    const std::optional<RunFolderOwner> owner = read_run_folder_owner(folder);
    if (owner && owner->run_uid == uid) return true;
    notes.push_back(
        fmt::format("left {}: it {}", folder,
                    owner ? "belongs to " + describe_owner(*owner)
                          : std::string("names no run (made by an armor before identities); remove it yourself")));
  } catch (const IdentityError& error) {
    notes.push_back(fmt::format("left {}: {}", folder, error.what()));
  }
  return false;
}

}  // namespace

RemovalPlan plan_removal(const ResultsReader& store, const RemovalQuery& query) {
  const bool by_sweep = query.sweep.has_value();
  if (by_sweep == !query.run_ids.empty()) throw UsageError("armor db rm takes run ids or --sweep ID (one of them)");
  RemovalPlan plan;
  plan.query = query;
  RunFilter filter;
  if (by_sweep) {
    store.sweep(*query.sweep);  // names a missing sweep
    filter.sweep_id = query.sweep;
  } else {
    filter.run_ids = query.run_ids;
  }
  const std::vector<RunSummary> runs = store.find_runs(filter);
  if (!by_sweep && runs.size() != query.run_ids.size()) {
    for (const std::int64_t id : query.run_ids) store.run(id);  // names the missing one
  }
  std::vector<std::string> ids;
  for (const RunSummary& run : runs) {
    plan.run_ids.push_back(run.run.id);
    ids.push_back(std::to_string(run.run.id));
    plan.uid_of_folder[run.run.output_dir] = run.run.uid;
    if (!run.run.output_dir.empty() && std::filesystem::exists(run.run.output_dir)) ++plan.folders;
  }
  plan.description =
      (by_sweep ? "sweep " + std::to_string(*query.sweep) + " with " : std::string()) + std::to_string(runs.size()) +
      " run(s) (" + join(ids, ", ") + ")" +
      (!query.keep_files && plan.folders != 0 ? " and " + std::to_string(plan.folders) + " output folder(s)" : "");
  return plan;
}

std::vector<std::string> carry_out_removal(RunStore& store, const RemovalPlan& plan) {
  const std::vector<std::string> dirs =
      plan.query.sweep ? store.queue().remove_sweep(*plan.query.sweep) : store.queue().remove_runs(plan.query.run_ids);
  std::vector<std::string> notes;
  if (plan.query.keep_files) return notes;
  for (const std::string& dir : dirs) {
    const std::filesystem::path path = std::filesystem::absolute(dir).lexically_normal();
    if (path == path.root_path()) continue;  // never the root, whatever was recorded
    const auto uid = plan.uid_of_folder.find(dir);
    if (!removable_run_folder(dir, uid == plan.uid_of_folder.end() ? std::string() : uid->second, notes)) continue;
    std::error_code error;
    std::filesystem::remove_all(path, error);
    if (error) notes.push_back(fmt::format("could not remove {}: {}", path.string(), error.message()));
  }
  return notes;
}

}  // namespace armor::app
