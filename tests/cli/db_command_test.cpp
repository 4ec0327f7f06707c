// `armor db` end to end: the armor program on a small database of known runs built through RunStore.

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "../e2e/cli_support.h"
#include "armor/store/run_store.h"

namespace armor {
namespace {
namespace fs = std::filesystem;

using armor::testing::Result;  // stdout (and stderr when asked) and the exit code

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

// Sweep 1: model.num_experts in {2, 4} x model.k in {1, 2}; the cell (4, 2) ran twice (seeds 0 and
// 1). clean_acc = 0.25 + num_experts / 8 + k / 64 (+ 1/32 for seed 1), pgd20_acc = clean_acc / 2: binary
// fractions, so that every printed number is exact.
// A fifth run failed. Sweep 2: one finished run with trainer.beta = 3.
class DbCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("armor_db_command_test_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = (dir_ / "runs.db").string();
    RunStore store(db_);
    std::vector<NewRun> runs;
    for (const std::int64_t experts : {2, 4}) {
      for (const std::int64_t k : {1, 2}) runs.push_back(make_run(experts, k, 0, runs.size()));
    }
    runs.push_back(make_run(4, 2, 1, runs.size()));
    runs.push_back(make_run(2, 1, 5, runs.size()));  // fails
    const auto [sweep, ids] =
        store.queue().add_sweep(NewSweep{"grid", "quick.toml", "model.num_experts=2,4 model.k=1,2"}, runs);
    for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
      const double experts = static_cast<double>(std::get<std::int64_t>(runs[i].params[0].second));
      const double k = static_cast<double>(std::get<std::int64_t>(runs[i].params[1].second));
      const double clean = 0.25 + experts / 8 + k / 64 + (runs[i].seed == 1 ? 1.0 / 32 : 0);
      store.queue().start_run(ids[i], 100);
      store.records().record_epoch_metrics(ids[i], 1, {{"train_loss", 2.0}, {"train_acc", 0.3}});
      store.records().record_epoch_metrics(ids[i], 2, {{"train_loss", 1.5}, {"train_acc", 0.4}});
      store.records().record_expert_metrics(ids[i], "stage3", 0, {{"usage_share", 0.75}, {"clean_acc", 0.6}});
      store.records().record_expert_metrics(ids[i], "stage3", 1, {{"usage_share", 0.25}, {"clean_acc", 0.4}});
      store.records().record_provenance(ids[i], {{"compiler", "GNU 12"}, {"torch_version", "1.13.1"}});
      store.queue().finish_run(ids[i], {{"clean_acc", clean}, {"pgd20_acc", clean / 2}});
    }
    store.queue().fail_run(ids.back(), "loss is nan", RunStatus::diverged);
    store.queue().finish_sweep(sweep);
    NewRun single = make_run(2, 1, 0, 0);
    single.params.push_back({"trainer.beta", ParamValue{3.0}});
    output_dir_ = (dir_ / "out7").string();
    fs::create_directories(output_dir_);
    std::ofstream(output_dir_ + "/log.txt") << "log";
    single.output_dir = output_dir_;
    const std::int64_t later =
        store.queue().add_sweep(NewSweep{"one", "quick.toml", "trainer.beta=3"}, {single}).second[0];
    store.queue().finish_run(later, {{"clean_acc", 0.99}});
    write_identity(store.reader().run(later).uid);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The identity.toml of run 7's folder, naming the run with `uid`.
  void write_identity(const std::string& uid) const {
    std::ofstream(output_dir_ + "/identity.toml")
        << "run_uid = \"" << uid << "\"\nrun_id = 7\ndatabase = \"" << db_ << "\"\n";
  }

  static NewRun make_run(std::int64_t experts, std::int64_t k, std::int64_t seed, std::size_t index) {
    NewRun run;
    run.index = static_cast<int>(index);
    run.experiment = "quick.toml";
    run.config = "[model]\nnum_experts = " + std::to_string(experts) + "\nk = " + std::to_string(k) + "\n";
    run.overrides = {"model.num_experts=" + std::to_string(experts), "model.k=" + std::to_string(k)};
    run.config_hash = "h" + std::to_string(experts) + std::to_string(k) + std::to_string(seed);
    run.seed = seed;
    run.revision = "rev1";
    run.host = "box";
    run.params = {{"model.num_experts", ParamValue{experts}},
                  {"model.k", ParamValue{k}},
                  {"run.seed", ParamValue{seed}},
                  {"trainer.name", ParamValue{std::string("pgd_at")}}};
    return run;
  }

  Result armor(const std::string& arguments, bool with_stderr = true) const {
    const std::string command = std::string(ARMOR_TEST_BINARY_DIR) + "/armor db " + arguments + " --db " + db_ +
                                (with_stderr ? " 2>&1" : " 2>/dev/null") + " < /dev/null";
    return armor::testing::run_command_line(command);
  }

  fs::path dir_;
  std::string db_;
  std::string output_dir_;
};

TEST_F(DbCommandTest, ListFiltersWithWhereAndPrintsChosenColumns) {
  const Result out = armor(
      "list --where 'model.k = 2 and (model.num_experts >= 4 or run.seed = 9)' "
      "--columns id,model.k,run.seed,clean_acc --format csv");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(out.output, "id,model.k,run.seed,clean_acc\n4,2,0,0.78125\n5,2,1,0.8125\n");
}

TEST_F(DbCommandTest, ListSortsAndFiltersByStatusAndSweep) {
  Result out = armor("list --sweep 1 --status finished --sort clean_acc --desc --columns id --format csv");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(out.output, "id\n5\n4\n3\n2\n1\n");
  out = armor("list --status diverged,failed --format csv");
  EXPECT_EQ(out.output, "id,sweep,status,overrides,error\n6,1,diverged,model.num_experts=2 model.k=1,loss is nan\n");
}

TEST_F(DbCommandTest, ListPrintsTabSeparatedWhenPipedAndAlignedOnRequest) {
  Result out = armor("list --columns id,status --where 'id <= 2'");
  EXPECT_EQ(out.output, "id\tstatus\n1\tfinished\n2\tfinished\n");
  out = armor("list --columns id,status --where 'id <= 2' --format table");
  EXPECT_EQ(out.output, "id  status\n--  --------\n 1  finished\n 2  finished\n");
}

TEST_F(DbCommandTest, MarkdownIsAPipeTableWithNumbersRightAligned) {
  Result out = armor("list --columns id,status,overrides --where 'id <= 2' --format markdown");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(out.output,
            "| id | status | overrides |\n| ---: | --- | --- |\n"
            "| 1 | finished | model.num_experts=2 model.k=1 |\n| 2 | finished | model.num_experts=2 model.k=2 |\n");
  // A pipe inside a cell is escaped; a column of numbers aligns right, one with a text cell (an
  // interval) left; the pivot's note follows the table as a paragraph.
  out = armor("sql \"SELECT 'a|b' AS text, 1.5 AS x\" --format md");
  EXPECT_EQ(out.output, "| text | x |\n| --- | ---: |\n| a\\|b | 1.5 |\n");
  out = armor("pivot --rows model.num_experts --cols model.k --metric clean_acc --sweep 1 --format markdown");
  EXPECT_EQ(out.output.rfind("| model.num_experts \\ model.k | 1 | 2 |\n| ---: | ---: | --- |\n"
                             "| 2 | 0.515625 | 0.53125 |\n| 4 | 0.765625 | 0.7969 ± 0.1985 (n=2) |\n\ncells: mean",
                             0),
            0u)
      << out.output;
}

TEST_F(DbCommandTest, ListRejectsABadWhereWithExitCode2) {
  Result out = armor("list --where 'model.kk = 1'");
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_TRUE(contains(out.output, "did you mean 'model.k'"));
  out = armor("list --where 'model.k = '");
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_TRUE(contains(out.output, "at column"));
  EXPECT_EQ(armor("list --format yaml").exit_code, 2);
  EXPECT_EQ(armor("lsit").exit_code, 2);
  EXPECT_TRUE(contains(armor("lsit").output, "did you mean 'list'"));
}

TEST_F(DbCommandTest, ShowPrintsRunProvenanceMetricsCurvesAndExperts) {
  const Result out = armor("show 2 --format plain --config");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_TRUE(contains(out.output, "run 2\nkey\tvalue\nid\t2\nsweep\t1\n"));
  EXPECT_TRUE(contains(out.output, "overrides\tmodel.num_experts=2 model.k=2\n"));
  EXPECT_TRUE(contains(out.output, "provenance\nkey\tvalue\ncompiler\tGNU 12\ntorch_version\t1.13.1\n"));
  EXPECT_TRUE(contains(out.output, "metrics\nkey\tvalue\nclean_acc\t0.53125\npgd20_acc\t0.265625\n"));
  EXPECT_TRUE(contains(out.output,
                       "curves\ncurve\tepochs\tfirst\tlast\tmin\tmin_epoch\tmax\tmax_epoch\n"
                       "train_acc\t2\t0.3\t0.4\t0.3\t1\t0.4\t2\ntrain_loss\t2\t2\t1.5\t1.5\t2\t2\t1\n"));
  EXPECT_TRUE(contains(out.output,
                       "experts\nlayer\texpert\tusage_share\tclean_acc\nstage3\t0\t0.75\t0.6\n"
                       "stage3\t1\t0.25\t0.4\n"));
  EXPECT_TRUE(contains(out.output, "num_experts = 2"));
  EXPECT_EQ(armor("show 99").exit_code, 2);
}

TEST_F(DbCommandTest, ShowAsJsonIsOneObjectOfSections) {
  const Result out = armor("show 1 --format json", false);
  ASSERT_EQ(out.exit_code, 0);
  EXPECT_EQ(out.output.front(), '{');
  EXPECT_TRUE(contains(out.output, "\"metrics\": [\n  {\"key\": \"clean_acc\", \"value\": 0.515625}"));
}

TEST_F(DbCommandTest, CompareShowsParamsThatDifferAndEveryMetric) {
  const Result out = armor("compare 1 4 --format csv");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(out.output,
            ",key,run 1,run 4\nrun,status,finished,finished\nparam,model.num_experts,2,4\nparam,model.k,1,2\n"
            "metric,clean_acc,0.515625,0.78125\nmetric,pgd20_acc,0.2578125,0.390625\n");
}

TEST_F(DbCommandTest, CompareTwoMetricsPairsThemRunByRunPerGroup) {
  // pgd20_acc = clean_acc / 2, so B − A = −clean_acc / 2: for num_experts = 2 the runs' clean_acc are
  // 0.515625 and 0.53125 (mean 0.5234375), for 4 they are 0.765625, 0.78125 and 0.8125.
  Result out = armor("compare --metric-a clean_acc --metric-b pgd20_acc --by model.num_experts --sweep 1 --format csv",
                     false);
  ASSERT_EQ(out.exit_code, 0) << out.output;
  std::vector<std::string> lines;
  std::istringstream text(out.output);
  for (std::string line; std::getline(text, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u) << out.output;
  EXPECT_EQ(lines[0], "model.num_experts,runs,mean A,mean B,difference,ci_low,ci_high,t_p,wilcoxon_p,wilcoxon");
  EXPECT_EQ(lines[1].rfind("2,2,0.5234375,0.26171875,-0.26171875,", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2].rfind("4,3,0.7864583333333334,0.3932291666666667,-0.3932291666666667,", 0), 0u) << lines[2];
  out = armor("compare --metric-a clean_acc --metric-b clean_acc");
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_TRUE(contains(out.output, "--metric-a and --metric-b are both 'clean_acc'")) << out.output;
  out = armor("compare 1 2 --metric-a clean_acc --metric-b pgd20_acc");
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_EQ(armor("compare --metric-a clean_acc --metric-b pgd_acc").exit_code, 2);
}

TEST_F(DbCommandTest, CompareTakesASweepIdOrNoneForEachSide) {
  Result out = armor("compare --sweep-a one --sweep-b 1 --metric clean_acc");
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_TRUE(contains(out.output, "--sweep-a takes a sweep id or none (got 'one')")) << out.output;
  // Every run here is a sweep's: none is outside sweeps.
  out = armor("compare --sweep-a none --sweep-b 1 --metric clean_acc");
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_TRUE(contains(out.output, "no finished run is A (runs outside sweeps)")) << out.output;
}

TEST_F(DbCommandTest, PivotAveragesRunsSharingACellWithItsConfidenceInterval) {
  Result out = armor("pivot --rows model.num_experts --cols model.k --metric clean_acc --sweep 1 --format csv");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  // The (4, 2) cell: 0.78125 and 0.8125, sd 0.03125 / sqrt(2), interval 0.796875 ± t(0.975, 1) * 0.015625
  // with t(0.975, 1) = 12.706204736174707 (scipy.stats.t.ppf): ± 0.19853444900272967.
  EXPECT_EQ(out.output,
            "model.num_experts \\ model.k,1,1 sd,1 n,1 ci_low,1 ci_high,2,2 sd,2 n,2 ci_low,2 ci_high\n"
            "2,0.515625,,1,,,0.53125,,1,,\n"
            "4,0.765625,,1,,,0.796875,0.02209708691207961,2,0.5983405509972703,0.9954094490027297\n");
  out = armor("pivot --rows model.num_experts --cols model.k --metric clean_acc --sweep 1 --format table");
  EXPECT_TRUE(contains(out.output, "0.7969 ± 0.1985 (n=2)")) << out.output;
  EXPECT_TRUE(contains(out.output, "95 % confidence interval")) << out.output;
}

TEST_F(DbCommandTest, PivotWithSeveralMetricsGivesOneColumnEach) {
  Result out =
      armor("pivot --rows model.k --metric clean_acc,pgd20_acc --where 'model.num_experts = 2' --sweep 1 --format csv");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(out.output,
            "model.k,clean_acc,clean_acc sd,clean_acc n,clean_acc ci_low,clean_acc ci_high,pgd20_acc,pgd20_acc sd,"
            "pgd20_acc n,pgd20_acc ci_low,pgd20_acc ci_high\n"
            "1,0.515625,,1,,,0.2578125,,1,,\n"
            "2,0.53125,,1,,,0.265625,,1,,\n");
  out = armor("pivot --rows model.k --cols model.num_experts --metrics clean_acc,pgd20_acc --sweep 1 --format csv");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_TRUE(contains(out.output, "model.k \\ model.num_experts,clean_acc @ 2,")) << out.output;
}

TEST_F(DbCommandTest, PivotRefusesToAverageOverASweptParamAndTakesSeveralRowKeys) {
  Result out = armor("pivot --rows model.k --metric clean_acc --sweep 1");
  EXPECT_EQ(out.exit_code, 2) << out.output;
  EXPECT_TRUE(contains(out.output, "model.num_experts (2, 4) varies inside the cells")) << out.output;
  out = armor("pivot --rows model.k,model.num_experts --metric clean_acc --sweep 1 --format csv");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_TRUE(contains(out.output, "model.k,model.num_experts,clean_acc,")) << out.output;
  EXPECT_TRUE(contains(out.output, "\n2,4,0.796875,0.02209708691207961,2,")) << out.output;
}

TEST_F(DbCommandTest, PivotDefaultsToTheLatestSweep) {
  const Result out = armor("pivot --rows model.num_experts --cols model.k --metric clean_acc --format csv");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(out.output, "model.num_experts \\ model.k,1,1 sd,1 n,1 ci_low,1 ci_high\n2,0.99,,1,,\n");
}

TEST_F(DbCommandTest, BestFindsTheTopRunPerGroup) {
  Result out = armor("best --metric clean_acc --by model.k --sweep 1 --format csv");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(out.output,
            "model.k,run,clean_acc,overrides\n1,3,0.765625,model.num_experts=4 model.k=1\n"
            "2,5,0.8125,model.num_experts=4 model.k=2\n");
  out = armor("best --metric pgd20_acc --min --format csv");
  EXPECT_EQ(out.output, "run,pgd20_acc,overrides\n1,0.2578125,model.num_experts=2 model.k=1\n");
}

TEST_F(DbCommandTest, ExportFlattensParamsAndMetricsOneRowPerRun) {
  Result out = armor("export --sweep 1 --status finished", false);
  ASSERT_EQ(out.exit_code, 0);
  const std::string header = out.output.substr(0, out.output.find('\n'));
  EXPECT_TRUE(contains(header, "run_id,sweep_id,idx,status,experiment,overrides,config_hash,seed"));
  EXPECT_TRUE(contains(header, ",model.num_experts,model.k,run.seed,trainer.name,clean_acc,pgd20_acc"));
  EXPECT_EQ(std::count(out.output.begin(), out.output.end(), '\n'), 6);
  out = armor("export --format json --where 'id = 1'", false);
  EXPECT_TRUE(
      contains(out.output, "\"model.k\": 1, \"run.seed\": 0, \"trainer.name\": \"pgd_at\", \"clean_acc\": 0.515625"));
}

TEST_F(DbCommandTest, SqlReadsAndSqliteItselfRefusesWrites) {
  Result out = armor("sql \"SELECT \\\"model.k\\\", clean_acc FROM results WHERE run_id = 2\" --format csv");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(out.output, "model.k,clean_acc\n2,0.53125\n");
  for (const std::string write : {"DELETE FROM runs", "WITH x AS (SELECT 1) DELETE FROM runs RETURNING id",
                                  "UPDATE runs SET status = 'x' RETURNING id"}) {
    out = armor("sql \"" + write + "\"");
    EXPECT_EQ(out.exit_code, 1) << write;
    EXPECT_TRUE(contains(out.output, "read-only")) << out.output;
  }
  EXPECT_EQ(armor("sql \"SELECT count(*) FROM runs\" --format csv").output, "count(*)\n7\n");
}

TEST_F(DbCommandTest, RmNeedsConfirmationThenRemovesRunsAndTheirFolders) {
  Result out = armor("rm 7");
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_TRUE(contains(out.output, "confirm with --yes"));
  EXPECT_TRUE(fs::exists(output_dir_));
  out = armor("rm 7 --yes");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_TRUE(contains(out.output, "removed 1 run(s) (7) and 1 output folder(s)"));
  EXPECT_FALSE(fs::exists(output_dir_));
  out = armor("rm --sweep 1 --yes");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_EQ(armor("sql \"SELECT count(*) FROM runs\" --format csv").output, "count(*)\n0\n");
  EXPECT_EQ(armor("rm 99 --yes").exit_code, 1);
}

TEST_F(DbCommandTest, RmLeavesAFolderThatBelongsToAnotherRun) {
  write_identity("0123456789abcdef0123456789abcdef");
  const Result out = armor("rm 7 --yes");
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_TRUE(contains(out.output, "left " + output_dir_ + ": it belongs to run 7 (uid 0123456789abcdef"))
      << out.output;
  EXPECT_TRUE(fs::exists(output_dir_ + "/log.txt"));
}

TEST_F(DbCommandTest, PlotWritesSvgFiles) {
  const std::string lines = (dir_ / "lines.svg").string();
  Result out = armor("plot lines --x model.k --metric pgd20_acc --sweep 1 -o " + lines);
  ASSERT_EQ(out.exit_code, 0) << out.output;
  std::ifstream file(lines);
  const std::string svg((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(contains(svg, "<svg"));
  EXPECT_TRUE(contains(svg, "model.num_experts=2")) << "one line per value of the other varying param";
  EXPECT_TRUE(contains(svg, "model.num_experts=4"));
  EXPECT_FALSE(contains(svg, "run.seed=")) << "seeds are averaged, not lines";
  const std::string heat = (dir_ / "heat.svg").string();
  out = armor("plot heatmap --rows model.num_experts --cols model.k --metric clean_acc --sweep 1 -o " + heat);
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_TRUE(fs::file_size(heat) > 500);
  const std::string curves = (dir_ / "curves.svg").string();
  out = armor("plot curves 1 2 --curve train_acc -o " + curves);
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_TRUE(fs::exists(curves));
  EXPECT_EQ(armor("plot curves 1 --curve nope -o " + curves).exit_code, 2);
}

TEST_F(DbCommandTest, ADatabaseFromANewerArmorIsRefused) {
  {
    SQLite::Database raw(db_, SQLite::OPEN_READWRITE);
    raw.exec("PRAGMA user_version = 9");
  }
  const Result out = armor("list");
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_TRUE(contains(out.output, "schema version 9"));
  EXPECT_TRUE(contains(out.output, "upgrade armor"));
}

}  // namespace
}  // namespace armor

namespace armor {
namespace {

// Every `armor db` command that an experiment file's header suggests is a real one: its
// subcommand and options parse (it stops only at the missing database).
TEST(ExperimentHeadersTest, TheDbCommandsInExperimentFilesParse) {
  int commands = 0;
  for (const auto& entry : fs::recursive_directory_iterator(std::string(ARMOR_TEST_SOURCE_DIR) + "/experiments")) {
    if (entry.path().extension() != ".toml") continue;
    std::ifstream file(entry.path());
    std::string line;
    while (std::getline(file, line)) {
      const std::size_t at = line.find("build/armor db ");
      if (line.rfind('#', 0) != 0 || at == std::string::npos) continue;
      std::string command = line.substr(at + std::string("build/armor db ").size());
      command = command.substr(0, command.find(" #"));
      for (std::size_t id = command.find("<id>"); id != std::string::npos; id = command.find("<id>"))
        command.replace(id, 4, "1");
      const Result out = armor::testing::run_command_line(std::string(ARMOR_TEST_BINARY_DIR) + "/armor db " + command +
                                                          " --db /nonexistent/runs.db 2>&1 < /dev/null");
      EXPECT_TRUE(contains(out.output, "no results database")) << entry.path() << ": " << line << "\n" << out.output;
      ++commands;
    }
  }
  EXPECT_GE(commands, 3);
}

}  // namespace
}  // namespace armor
