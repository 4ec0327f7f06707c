#pragma once
// `armor report`: one self-contained HTML page about a sweep (README "Sweep reports"): its config,
// its runs, pivot tables, accuracy against robustness, each metric against each swept param, heat
// maps, training curves and expert usage. Charts are inline SVG and the page has no script and no
// link, so it opens anywhere, offline, and can be mailed as one file.

#include <cstdint>
#include <string>

namespace armor {
class ResultsReader;
class RunStore;
}  // namespace armor

namespace armor::app {

// The page about sweep `sweep_id` (StoreError when the database has no such sweep).
std::string sweep_report_html(const ResultsReader& store, std::int64_t sweep_id);

}  // namespace armor::app
