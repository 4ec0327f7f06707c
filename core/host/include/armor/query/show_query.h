#pragma once
// `armor db show RUN`: one run in full.

#include <cstdint>
#include <string>
#include <vector>

#include "armor/report/result_table.h"

namespace armor {
class ResultsReader;
class RunStore;
}  // namespace armor

namespace armor::app {

struct RunDetails {
  // run (its fields), provenance, metrics, curves (one row per epoch metric), experts (one row per
  // layer and expert), checks (the attack-validity checks, flagged metrics marked in metrics),
  // artifacts, params; sections without rows are left out.
  std::vector<Section> sections;
  std::string config;  // the resolved config (TOML)
};

// UsageError when the database has no such run.
RunDetails show_run(const ResultsReader& store, std::int64_t run_id);

}  // namespace armor::app
