#pragma once
// `armor db rm`: runs or a sweep taken out of runs.db, with their output folders. Planned first (what
// would go, for the confirmation), then carried out. Only a folder whose identity names the removed
// run goes with it: one that names another run (of this or another database) or none is left.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace armor {
class ResultsReader;
class RunStore;
}  // namespace armor

namespace armor::app {

struct RemovalQuery {
  std::vector<std::int64_t> run_ids;  // these runs, or
  std::optional<std::int64_t> sweep;  // this sweep with all its runs
  bool keep_files = false;            // leave the output folders
};

struct RemovalPlan {
  RemovalQuery query;
  std::vector<std::int64_t> run_ids;                 // the runs that go
  std::map<std::string, std::string> uid_of_folder;  // output folder -> its run's uid
  std::size_t folders = 0;                           // output folders that exist
  std::string description;                           // "sweep 2 with 3 run(s) (4, 5, 6) and 3 output folder(s)"
};

// StoreError naming a run or sweep the database does not have; UsageError unless exactly one of
// run_ids and sweep is given.
RemovalPlan plan_removal(const ResultsReader& store, const RemovalQuery& query);

// Removes the planned runs (or sweep) from the database, then their folders unless keep_files.
// Returns one note per folder left or that could not be removed ("left /x: it belongs to run 3 ...").
std::vector<std::string> carry_out_removal(RunStore& store, const RemovalPlan& plan);

}  // namespace armor::app
