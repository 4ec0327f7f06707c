#pragma once
// The 2 × 2 × 2 sweep with 3 seeds of tests/fixtures/statistics/grid.csv (trainer.beta 0/3 ×
// model.num_experts 2/4 × model.k 1/2 × run.seed 0/1/2), recorded through the store API: 24 finished
// runs with clean_acc and pgd20_acc, and their training time as two epochs' `seconds`; and the same
// runs recorded outside any sweep.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "armor/store/run_store.h"
#include "fixture_csv.h"

namespace armor::testing {

// The grid's runs, in the fixture's row order.
inline std::vector<NewRun> grid_runs(const std::vector<CsvRow>& grid) {
  std::vector<NewRun> runs;
  for (const CsvRow& row : grid) {
    NewRun run;
    run.index = static_cast<int>(runs.size());
    run.experiment = "experiments/fashion-mnist-dual/rt_er.toml";
    const auto experts = static_cast<std::int64_t>(number(row, "num_experts"));
    const auto k = static_cast<std::int64_t>(number(row, "k"));
    const auto seed = static_cast<std::int64_t>(number(row, "seed"));
    run.overrides = {"trainer.beta=" + row.at("beta"), "model.num_experts=" + std::to_string(experts),
                     "model.k=" + std::to_string(k), "run.seed=" + std::to_string(seed)};
    run.config = "[trainer]\nbeta = " + row.at("beta") + "\n";
    run.config_hash = "grid-" + std::to_string(run.index);
    run.seed = seed;
    run.host = "testhost";
    run.params = {{"run.seed", ParamValue{seed}},
                  {"model.num_experts", ParamValue{experts}},
                  {"model.k", ParamValue{k}},
                  {"trainer.name", ParamValue{std::string("rt_er")}},
                  {"trainer.beta", ParamValue{number(row, "beta")}},
                  {"data.train_limit", ParamValue{std::int64_t{600}}}};
    runs.push_back(run);
  }
  return runs;
}

// Runs ids[i] as the grid's row i: two epochs, then finished with its accuracies plus `shift`.
inline void finish_grid_runs(RunStore& store, const std::vector<CsvRow>& grid, const std::vector<std::int64_t>& ids,
                             double shift = 0) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const double seconds = number(grid[i], "train_seconds");
    store.queue().start_run(ids[i], 100);
    store.records().record_epoch_metrics(ids[i], 1,
                                         {{"train_loss", 1.2}, {"train_acc", 0.6}, {"seconds", seconds / 2}});
    store.records().record_epoch_metrics(ids[i], 2,
                                         {{"train_loss", 0.9}, {"train_acc", 0.7}, {"seconds", seconds / 2}});
    store.queue().finish_run(ids[i], {{"clean_acc", number(grid[i], "clean_acc") + shift},
                                      {"pgd20_acc", number(grid[i], "pgd20_acc") + shift}});
  }
}

// Records the grid into `store` as one sweep; the run ids in the fixture's row order.
inline std::vector<std::int64_t> record_grid_sweep(RunStore& store) {
  const std::vector<CsvRow> grid = statistics_fixture("grid.csv");
  const auto [sweep, ids] =
      store.queue().add_sweep(NewSweep{"grid", "experiments/fashion-mnist-dual/rt_er.toml",
                                       "trainer.beta=0,3 model.num_experts=2,4 model.k=1,2 run.seed=range(0,3)"},
                              grid_runs(grid));
  finish_grid_runs(store, grid, ids);
  store.queue().finish_sweep(sweep);
  return ids;
}

// Records the grid's runs again outside every sweep (as `armor eval --new-run` records its runs),
// each accuracy `shift` above the fixture's; their ids in its row order.
inline std::vector<std::int64_t> record_grid_outside_sweeps(RunStore& store, double shift) {
  const std::vector<CsvRow> grid = statistics_fixture("grid.csv");
  std::vector<std::int64_t> ids;
  for (const NewRun& run : grid_runs(grid)) ids.push_back(store.queue().add_run(run));
  finish_grid_runs(store, grid, ids, shift);
  return ids;
}

}  // namespace armor::testing
