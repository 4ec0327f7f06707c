// armor db sql "SELECT ..." | armor db rm RUN... | --sweep S.

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/run/run_folder.h"
#include "db_subcommands.h"
#include "db_support.h"

namespace armor::app {
namespace {

// Only a folder whose identity names the removed run goes with it: one that names another run (of
// this or another database) or none (an older armor's, perhaps shared) is left, and said so.
bool removable_run_folder(const std::string& folder, const std::string& uid) {
  if (!std::filesystem::exists(folder)) return false;
  try {
    const std::optional<RunFolderOwner> owner = read_run_folder_owner(folder);
    if (owner && owner->run_uid == uid) return true;
    fmt::print(stderr, "armor: left {}: it {}\n", folder,
               owner ? fmt::format("belongs to run {} (uid {}) of {}", owner->run_id, owner->run_uid, owner->database)
                     : std::string("names no run (made by an armor before identities); remove it yourself"));
  } catch (const IdentityError& error) {
    fmt::print(stderr, "armor: left {}: {}\n", folder, error.what());
  }
  return false;
}

Cell typed(const std::string& text, CellType type) {
  switch (type) {
    case CellType::null: return Cell{};
    case CellType::integer: return Cell{static_cast<std::int64_t>(std::stoll(text))};
    case CellType::real: return Cell{std::stod(text)};
    default: return Cell{text};
  }
}

}  // namespace

int db_sql(const std::vector<std::string>& args) {
  DbArgs common;
  po::options_description visible("options");
  po::variables_map values;
  if (!parse_db_args("armor db sql \"SELECT ...\"   (one read-only statement; schema and views in the README)", args,
                     visible, common, values)) {
    return kExitOk;
  }
  if (common.positional.size() != 1) throw UsageError("armor db sql takes one SQL statement (quote it)");
  // A read-only connection: SQLite itself refuses any write (and query() checks each statement).
  const auto store = open_reader(common.host);
  const QueryResult result = store->query(common.positional[0]);
  ResultTable table;
  table.columns = result.columns;
  for (std::size_t r = 0; r < result.rows.size(); ++r) {
    std::vector<Cell> row;
    for (std::size_t i = 0; i < result.rows[r].size(); ++i) row.push_back(typed(result.rows[r][i], result.types[r][i]));
    table.rows.push_back(std::move(row));
  }
  print_table(table, format_of(common));
  return kExitOk;
}

int db_rm(const std::vector<std::string>& args) {
  DbArgs common;
  std::int64_t sweep = 0;
  po::options_description visible("options");
  visible.add_options()("sweep", po::value(&sweep), "Remove this sweep and all its runs")(
      "yes,y", "Do not ask for confirmation")("keep-files", "Keep the runs' output folders");
  po::variables_map values;
  if (!parse_db_args("armor db rm RUN... | armor db rm --sweep ID   [--yes] [--keep-files]", args, visible, common,
                     values)) {
    return kExitOk;
  }
  const bool by_sweep = values.count("sweep") != 0;
  if (by_sweep == !common.positional.empty()) throw UsageError("armor db rm takes run ids or --sweep ID (one of them)");
  std::vector<std::int64_t> run_ids;
  for (const std::string& id : common.positional) run_ids.push_back(parse_id(id, "RUN"));

  auto store = open_store(common.host);
  RunFilter filter;
  if (by_sweep) {
    store->reader().sweep(sweep);  // names a missing sweep
    filter.sweep_id = sweep;
  } else {
    filter.run_ids = run_ids;
  }
  const std::vector<RunSummary> runs = store->reader().find_runs(filter);
  if (!by_sweep && runs.size() != run_ids.size()) {
    for (const std::int64_t id : run_ids) store->reader().run(id);  // names the missing one
  }
  std::vector<std::string> ids;
  std::size_t folders = 0;
  for (const RunSummary& run : runs) {
    ids.push_back(std::to_string(run.run.id));
    if (!run.run.output_dir.empty() && std::filesystem::exists(run.run.output_dir)) ++folders;
  }
  const std::string what = (by_sweep ? "sweep " + std::to_string(sweep) + " with " : std::string()) +
                           std::to_string(runs.size()) + " run(s) (" + join(ids, ", ") + ")" +
                           (values.count("keep-files") == 0 && folders != 0
                                ? " and " + std::to_string(folders) + " output folder(s)"
                                : "");
  if (values.count("yes") == 0) {
    if (::isatty(STDIN_FILENO) == 0) throw UsageError("armor db rm would remove " + what + ": confirm with --yes");
    fmt::print("remove {} from {}? [y/N] ", what, store->path());
    std::fflush(stdout);
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "yes") {
      fmt::print("nothing removed\n");
      return kExitFailed;
    }
  }
  std::map<std::string, std::string> uid_of_folder;
  for (const RunSummary& run : runs) uid_of_folder[run.run.output_dir] = run.run.uid;
  const std::vector<std::string> dirs = by_sweep ? store->queue().remove_sweep(sweep) : store->queue().remove_runs(run_ids);
  if (values.count("keep-files") == 0) {
    for (const std::string& dir : dirs) {
      const std::filesystem::path path = std::filesystem::absolute(dir).lexically_normal();
      if (path == path.root_path()) continue;  // never the root, whatever was recorded
      if (!removable_run_folder(dir, uid_of_folder[dir])) continue;
      std::error_code error;
      std::filesystem::remove_all(path, error);
      if (error) fmt::print(stderr, "armor: could not remove {}: {}\n", path.string(), error.message());
    }
  }
  fmt::print("removed {}\n", what);
  return kExitOk;
}

}  // namespace armor::app
