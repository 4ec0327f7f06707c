// armor eval: re-evaluating a finished run from its checkpoint, and evaluating a TorchScript model.
#include <torch/script.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "cli_support.h"

namespace armor::testing {
namespace {

namespace fs = std::filesystem;

class EvalTest : public CliTest {
 protected:
  // A tiny quickstart run (seconds); returns its checkpoint.
  std::string train(const std::string& extra = "", const std::string& db = "") {
    const Result run = run_armor("run " + quickstart() +
                                 " trainer.epochs=1 data.train_limit=256 data.test_limit=64 "
                                 "eval.attacks.pgd20.steps=2 " +
                                 extra + " --db " + (db.empty() ? db_ : db) + " --outputs " +
                                 (db.empty() ? outputs() : db + ".outputs"));
    EXPECT_EQ(run.exit_code, 0) << run.output;
    const ResultsReader store(db.empty() ? db_ : db, ResultsReader::Mode::read_only);
    return store.runs().back().output_dir + "/model.pt";
  }
};

TEST_F(EvalTest, AddsMetricsToAFinishedRun) {
  train();
  const Result eval = run_armor(
      "eval 1 +eval.attacks.fgsm.name=fgsm eval.attacks.fgsm.eps=0.1 eval.route_attacks=true "
      "eval.route_change=true --db " +
      db_);
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  const ResultsReader store(db_, ResultsReader::Mode::read_only);
  EXPECT_EQ(store.run(1).status, RunStatus::finished);
  const auto metrics = store.metrics(1);
  for (const char* key :
       {"clean_acc", "pgd20_acc", "fgsm_acc", "fgsm_rae_acc", "fgsm_rar_acc", "fgsm_route_change", "worst_case_acc"}) {
    ASSERT_EQ(metrics.count(key), 1u) << key << "\n" << eval.output;
  }
  EXPECT_EQ(metrics.count("pgd20_rae_acc"), 0u) << "only the new attack runs";
  EXPECT_LE(metrics.at("worst_case_acc"), metrics.at("pgd20_acc"));
  EXPECT_LE(metrics.at("worst_case_acc"), metrics.at("fgsm_acc"));
  EXPECT_GE(metrics.at("fgsm_route_change"), 0.0);
  EXPECT_LE(metrics.at("fgsm_route_change"), 1.0);
  EXPECT_EQ(store.image_results(1).size(), 64u);
  EXPECT_TRUE(contains(eval.output, "fgsm_acc")) << eval.output;
  // Who computed the added metrics is recorded beside the trainer's provenance, which stays.
  EXPECT_EQ(scalar("SELECT value FROM provenance WHERE run_id = 1 AND key = 'reeval:fgsm:revision'"),
            scalar("SELECT value FROM provenance WHERE run_id = 1 AND key = 'revision'"));
  EXPECT_FALSE(scalar("SELECT value FROM provenance WHERE run_id = 1 AND key = 'reeval:fgsm:cpu_kernels'").empty());
  EXPECT_EQ(scalar("SELECT count(*) FROM provenance WHERE run_id = 1 AND key LIKE 'reeval:pgd20:%'"), "0");
  // The router attack's own check, from the whole split, is recorded with the subset checks.
  EXPECT_EQ(scalar("SELECT count(*) FROM eval_checks WHERE run_id = 1 AND metric = 'fgsm_rar_acc' AND "
                   "\"check\" = 'constant_router' AND value > 0 AND value <= 1"),
            "1");
}

// Results depend on the CPU kernels (README "Checkpoints and resume"): a run records the CPU and
// which kernels were pinned.
TEST_F(EvalTest, ARunRecordsItsCpuAndKernelPins) {
  const Result run = run_command_line("env -u ATEN_CPU_CAPABILITY -u ONEDNN_MAX_CPU_ISA OPENBLAS_CORETYPE=Haswell " +
                                      armor_program() + " run " + quickstart() + " " + tiny() + " --db " + db_ +
                                      " --outputs " + outputs() + " 2>&1");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(scalar("SELECT value FROM provenance WHERE run_id = 1 AND key = 'cpu_kernels'"),
            "OPENBLAS_CORETYPE=Haswell");
  const std::string cpu = scalar("SELECT value FROM provenance WHERE run_id = 1 AND key = 'cpu'");
  EXPECT_FALSE(cpu.empty());
  EXPECT_TRUE(contains(cpu, "avx2") || contains(cpu, "avx512f") || contains(cpu, "no avx2")) << cpu;
}

TEST_F(EvalTest, AnAttackTakesItsOwnBatchSize) {
  const Result config =
      run_armor("config " + quickstart() + " eval.attacks.pgd20.batch_size=50 eval.route_attacks=true");
  ASSERT_EQ(config.exit_code, 0) << config.output;
  EXPECT_TRUE(contains(config.output, "batch_size = 50")) << config.output;
  EXPECT_TRUE(contains(config.output, "route_attacks = true")) << config.output;
  const Result negative = run_armor("config " + quickstart() + " eval.attacks.pgd20.batch_size=-1");
  EXPECT_EQ(negative.exit_code, 2) << negative.output;
}

TEST_F(EvalTest, FixedExpertPassesFillExpertMetrics) {
  train();
  const Result eval = run_armor("eval 1 eval.fixed_expert_layer=layer3.0 --db " + db_);
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_EQ(
      scalar("SELECT count(DISTINCT expert) FROM expert_metrics WHERE layer = 'layer3.0' AND key = 'fixed_pgd20_acc'"),
      "5");
}

TEST_F(EvalTest, MissingOrMismatchedCheckpointNamesTheFile) {
  const std::string checkpoint = train();
  const std::string other_db = (dir_ / "other.db").string();
  const std::string other = train("model.num_experts=2", other_db);
  fs::copy_file(checkpoint, checkpoint + ".kept");
  fs::copy_file(other, checkpoint, fs::copy_options::overwrite_existing);
  // Another run's model.pt in run 1's folder: not the file runs.db recorded, refused before loading.
  const Result mismatched = run_armor("eval 1 --db " + db_);
  EXPECT_EQ(mismatched.exit_code, 2) << mismatched.output;
  EXPECT_TRUE(contains(mismatched.output, checkpoint)) << mismatched.output;
  EXPECT_TRUE(contains(mismatched.output, "changed since")) << mismatched.output;
  fs::remove(checkpoint);
  const Result missing = run_armor("eval 1 --db " + db_);
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_TRUE(contains(missing.output, checkpoint)) << missing.output;
  EXPECT_EQ(run_armor("eval 1 model.k=2 --db " + db_).exit_code, 2) << "a re-evaluation cannot change the model";
  const ResultsReader store(db_, ResultsReader::Mode::read_only);
  EXPECT_EQ(store.run(1).status, RunStatus::finished) << "a failed re-evaluation leaves the run as it was";
}

TEST_F(EvalTest, DualModelMembersAndOutputLevelRouteAttacks) {
  const std::string experiment = std::string(ARMOR_TEST_SOURCE_DIR) + "/experiments/fashion-mnist-dual/dual_moe.toml";
  const Result run =
      run_armor("run " + experiment +
                " data.train_limit=64 data.test_limit=32 eval.attacks.pgd10.steps=1 "
                "eval.dual_members=true eval.route_attacks=true eval.route_change=true run.threads=1 --db " +
                db_ + " --outputs " + outputs());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const ResultsReader store(db_, ResultsReader::Mode::read_only);
  const auto metrics = store.metrics(1);
  for (const char* key : {"fs_clean_acc", "fs_pgd10_acc", "fr_clean_acc", "fr_pgd10_acc", "pgd10_rae_acc",
                          "pgd10_rar_acc", "pgd10_route_change"}) {
    EXPECT_EQ(metrics.count(key), 1u) << key;
  }
  const Result dense =
      run_armor("run " + quickstart() + " model.num_experts=1 eval.route_attacks=true --db " + db_ + " --outputs " +
                outputs() + " trainer.epochs=1 data.train_limit=64 data.test_limit=16");
  // Refused while planning (issue 17), naming the override: nothing is recorded.
  EXPECT_EQ(dense.exit_code, 2) << dense.output;
  EXPECT_TRUE(contains(dense.output, "override 'eval.route_attacks=true': eval.route_attacks needs a MoE model"))
      << dense.output;
}

TEST_F(EvalTest, ATrainedDualModelReweightedByAlphaIsANewRun) {
  const std::string experiment = std::string(ARMOR_TEST_SOURCE_DIR) + "/experiments/fashion-mnist-dual/dual_moe.toml";
  const std::string tiny = " data.train_limit=64 data.test_limit=32 eval.attacks.pgd10.steps=1 run.threads=1";
  const Result run =
      run_armor("run " + experiment + tiny + " eval.dual_members=true --db " + db_ + " --outputs " + outputs());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  // alpha = 1 is F_R alone and alpha = 0 is F_S alone: the members' own clean accuracy, exactly.
  for (const char* alpha : {"1", "0"}) {
    const Result eval =
        run_armor(std::string("eval 1 --new-run model.alpha=") + alpha + " --db " + db_ + " --outputs " + outputs());
    ASSERT_EQ(eval.exit_code, 0) << eval.output;
  }
  const ResultsReader store(db_, ResultsReader::Mode::read_only);
  ASSERT_EQ(store.runs().size(), 3u);
  const auto trained = store.metrics(1);
  EXPECT_EQ(store.metrics(2).at("clean_acc"), trained.at("fr_clean_acc"));
  EXPECT_EQ(store.metrics(3).at("clean_acc"), trained.at("fs_clean_acc"));
  EXPECT_EQ(store.metrics(2).count("pgd10_acc"), 1u) << "every attack of the run's [eval]";
  EXPECT_EQ(store.run(2).status, RunStatus::finished);
  const std::vector<std::string> overrides = store.run(2).overrides;
  EXPECT_NE(std::find(overrides.begin(), overrides.end(), "--from-run=1"), overrides.end());
  EXPECT_EQ(scalar("SELECT \"model.alpha\" FROM results WHERE run_id = 2"), "1");
  EXPECT_EQ(scalar("SELECT count(*) FROM artifacts WHERE run_id = 2 AND kind = 'evaluated_checkpoint'"), "1");
  EXPECT_EQ(store.metrics(1), trained) << "the trained run stays as it was";
  // A change the checkpoint does not fit, or one that is not the model's or the evaluation's:
  // refused, and nothing recorded.
  const Result unfit = run_armor("eval 1 --new-run model.num_experts=2 --db " + db_ + " --outputs " + outputs());
  EXPECT_NE(unfit.exit_code, 0) << unfit.output;
  EXPECT_TRUE(contains(unfit.output, "nothing recorded")) << unfit.output;
  EXPECT_EQ(run_armor("eval 1 --new-run trainer.epochs=3 --db " + db_).exit_code, 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM runs"), "3");
}

TEST_F(EvalTest, EvaluatesATorchScriptModelAsARun) {
  const std::string model = std::string(ARMOR_TEST_SOURCE_DIR) + "/../shared/fixtures/autoattack/model.pt";
  if (!fs::exists(model)) GTEST_SKIP() << "no TorchScript fixture at " << model;
  const std::string experiment = (dir_ / "exp.toml").string();
  std::ofstream(experiment)
      << "[data]\nname = \"synthetic\"\nchannels = 3\nimage_size = 32\ntrain_size = 8\ntest_size = 32\n"
      << "[eval.attacks.fgsm]\nname = \"fgsm\"\neps = 0.03\n";
  const Result eval =
      run_armor("eval --model-file " + model + " " + experiment + " --db " + db_ + " --outputs " + outputs());
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  const ResultsReader store(db_, ResultsReader::Mode::read_only);
  EXPECT_EQ(store.run(1).status, RunStatus::finished);
  EXPECT_EQ(store.metrics(1).count("fgsm_acc"), 1u);
  EXPECT_EQ(store.metrics(1).count("worst_case_acc"), 0u) << "one attack: its accuracy is the worst case";
  EXPECT_EQ(store.image_results(1).size(), 32u);
  EXPECT_EQ(run_armor("eval --model-file " + (dir_ / "nope.pt").string() + " " + experiment + " --db " + db_).exit_code,
            2);
}

// A TorchScript model whose forward quantises its input: every input gradient is exactly 0, so a
// gradient attack cannot move and its robust accuracy is the clean accuracy. The checks must say so.
TEST_F(EvalTest, AModelThatQuantisesItsInputIsFlaggedWithTheReason) {
  const std::string model = (dir_ / "quantised.pt").string();
  {
    torch::jit::Module module("Quantised");
    module.define(R"(
def forward(self, x):
    q = torch.round(x * 4.0) / 4.0
    m = q.mean(dim=[1, 2, 3])
    return torch.stack([m - 0.5, 0.5 - m], dim=1) * 10.0
)");
    module.save(model);
  }
  const std::string experiment = (dir_ / "exp.toml").string();
  std::ofstream(experiment)
      << "[data]\nname = \"synthetic\"\nchannels = 3\nimage_size = 8\nnum_classes = 2\ntrain_size = 8\n"
      << "test_size = 64\n[eval.attacks.apgd]\nname = \"apgd\"\neps = 0.03\nsteps = 5\n";
  const Result eval =
      run_armor("eval --model-file " + model + " " + experiment + " --db " + db_ + " --outputs " + outputs());
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_TRUE(contains(eval.output, "attack-validity check zero_gradients flagged")) << eval.output;
  const ResultsReader store(db_, ResultsReader::Mode::read_only);
  bool unbounded_failed = false;
  for (const EvalCheck& check : store.eval_checks(1)) {
    if (check.check == "unbounded_attack") unbounded_failed = check.flagged;
  }
  EXPECT_TRUE(unbounded_failed);
  const Result show = run_armor("db show 1 --format table --db " + db_);
  ASSERT_EQ(show.exit_code, 0) << show.output;
  EXPECT_TRUE(contains(show.output, "apgd_acc")) << show.output;
  EXPECT_TRUE(contains(show.output, "! flagged by an attack-validity check")) << show.output;
  EXPECT_TRUE(contains(show.output, "input gradient of exactly 0")) << show.output;
  EXPECT_TRUE(contains(show.output, "unbounded_attack")) << show.output;
  EXPECT_TRUE(contains(show.output, "FLAGGED")) << show.output;
  const Result list = run_armor("db list --format table --db " + db_);
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_TRUE(contains(list.output, "! flagged by an attack-validity check")) << list.output;

  // Full checks: Square breaks what the masked APGD left, a per-metric flag on apgd_acc.
  const Result full = run_armor("eval --model-file " + model + " " + experiment + " eval.checks=full --db " + db_ +
                                " --outputs " + outputs());
  ASSERT_EQ(full.exit_code, 0) << full.output;
  bool gap = false;
  for (const EvalCheck& check : ResultsReader(db_, ResultsReader::Mode::read_only).eval_checks(2)) {
    if (check.check == "score_based_gap") gap = check.flagged && check.metric == "apgd_acc";
  }
  EXPECT_TRUE(gap) << full.output;
}

TEST_F(EvalTest, ARobustnessCurveIsStoredPerImageAndPrintedByDbCurve) {
  train();
  const Result bad = run_armor("eval 1 eval.curve=pgd2 --db " + db_);
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_TRUE(contains(bad.output, "eval.curve")) << bad.output;
  EXPECT_TRUE(contains(bad.output, "pgd20")) << "names the tables there are: " << bad.output;
  const Result eval = run_armor("eval 1 eval.curve=pgd20 eval.curve_points=3 --db " + db_);
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  const ResultsReader store(db_, ResultsReader::Mode::read_only);
  const std::vector<RobustnessCurve> curves = store.robustness_curves(1);
  ASSERT_EQ(curves.size(), 1u);
  EXPECT_EQ(curves[0].metric, "pgd20");
  EXPECT_DOUBLE_EQ(curves[0].max_eps, 0.2) << "twice the attack's eps by default";
  EXPECT_EQ(curves[0].images.size(), 64u);
  for (const ImageMinEps& image : curves[0].images) {
    if (!image.min_eps) continue;
    const double eps = *image.min_eps;
    EXPECT_TRUE(eps == 0.0 || std::abs(eps - 0.2 / 3) < 1e-9 || std::abs(eps - 0.4 / 3) < 1e-9 || eps == 0.2) << eps;
  }
  const Result curve = run_armor("db curve 1 --format csv --db " + db_);
  ASSERT_EQ(curve.exit_code, 0) << curve.output;
  EXPECT_TRUE(contains(curve.output, "run,metric,eps,accuracy")) << curve.output;
  EXPECT_TRUE(contains(curve.output, "1,pgd20,0.2,")) << curve.output;
}

}  // namespace
}  // namespace armor::testing
