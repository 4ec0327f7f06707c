// The catalogue of bad inputs: every way a user can hand armor something wrong, each with the exit
// code armor must give (README "Exit codes": 2 bad input found before anything runs, 1 a run or
// the results database failed) and the words its message must hold. Bad input found before a run
// starts writes nothing to runs.db; bad data found by the run itself is recorded as a failed run.
//
// Not here, because they need a process to be killed or a file system to fail: a read-only or full
// database (fault_test.cpp). The override parser and config composition are also fuzzed
// (tests/fuzz/).

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"
#include "cli_support.h"

namespace {
namespace fs = std::filesystem;
using namespace armor::testing;

struct BadInput {
  const char* name;
  // After `armor`, with {dir} (the fixtures below), {db} (a fresh runs.db per case), {quickstart},
  // {plugins} (the test plugins folder) and {tiny} (overrides for a run of seconds) replaced.
  std::string arguments;
  int exit_code;
  std::vector<std::string> message;  // every part must appear in the output
  int runs_recorded = 0;             // 1: the run started and is recorded failed, with message[0]
};

// How gtest names a case in its messages.
void PrintTo(const BadInput& input, std::ostream* out) { *out << input.name; }

// clang-format off
const std::vector<BadInput> kCatalogue = {
  // Configuration files and overrides: exit 2, nothing written.
  {"MalformedToml", "run {dir}/malformed.toml --db {db}", 2, {"malformed.toml:1:7: TOML syntax error", "config error"}},
  {"MissingExperimentFile", "run {dir}/no_such.toml --db {db}", 2, {"no_such.toml"}},
  {"UnknownKeyInAFile", "run {dir}/typo.toml --db {db}", 2,
   {"typo.toml:4:14: unknown key model.num_expert", "did you mean 'num_experts'"}},
  {"UnknownKeyInAnOverride", "run {quickstart} --db {db} --multirun model.num_expert=2,4", 2,
   {"key model.num_expert is not in the config", "did you mean 'model.num_experts'", "+model.num_expert=2"}},
  {"UnknownSection", "run {dir}/section.toml --db {db}", 2, {"unknown section 'modle'", "did you mean 'model'"}},
  {"WrongTypeInAFile", "run {dir}/wrong_type.toml --db {db}", 2, {"wrong_type.toml:3:10:", "trainer.epochs must be an integer", "three"}},
  {"WrongTypeInAnOverride", "run {quickstart} --db {db} --multirun model.k=1,two", 2,
   {"model.k must be an integer", "\"two\""}},
  {"KAboveNumExperts", "run {quickstart} --db {db} model.k=5", 2,
   {"override 'model.k=5': model: k <= num_experts does not hold (k = 5, num_experts = 4)"}},
  {"MalformedMilestones", "run {quickstart} --db {db} trainer.schedule=step trainer.milestones=ten", 2,
   {"override 'trainer.milestones=ten': trainer.milestones must be a comma-separated list of epochs", "'ten'"}},
  {"NegativeEps", "run {quickstart} --db {db} attack.eps=-0.1", 2, {"override 'attack.eps=-0.1'", "attack.eps must be >= 0"}},
  {"NegativeEpochs", "run {quickstart} --db {db} trainer.epochs=-1", 2, {"override 'trainer.epochs=-1'", "trainer.epochs must be >= 0 (got -1)"}},
  // Values that cannot make sense, refused before anything is recorded (issue 17): exit 2, naming the
  // key, the value and where it came from; no sweep, no run, no outputs folder.
  {"EpsBeyondThePixelRange", "run {quickstart} --db {db} {tiny} attack.eps=2", 2,
   {"override 'attack.eps=2'", "attack.eps must be <= 1 for norm = \"Linf\"", "(got 2)"}},
  {"EvalEpsBeyondThePixelRangeInAFile", "run {dir}/wide_eps.toml --db {db} {tiny}", 2,
   {"wide_eps.toml:4:7: eval.attacks.pgd20.eps must be <= 1", "(got 2)"}},
  {"L2EpsBeyondTheImageBox", "run {quickstart} --db {db} {tiny} attack.norm=L2 attack.eps=30", 2,
   {"override 'attack.eps=30'", "attack.eps must be <= 28 for an L2 ball", "1x28x28", "(got 30)"}},
  {"ZeroEvalAttackSteps", "run {quickstart} --db {db} {tiny} eval.attacks.pgd20.steps=0", 2,
   {"override 'eval.attacks.pgd20.steps=0'", "eval.attacks.pgd20.steps must be >= 1 (got 0)"}},
  {"ZeroAttackStepsInAFile", "run {dir}/zero_steps.toml --db {db} {tiny}", 2,
   {"zero_steps.toml:4:9: attack.steps must be >= 1 (got 0)"}},
  {"TestLimitBeyondTheSplit", "run {quickstart} --db {db} {tiny} data.test_limit=100000", 2,
   {"override 'data.test_limit=100000'", "data.test_limit exceeds the 10000 test images of dataset 'fashion_mnist'", "(got 100000)"}},
  {"TrainLimitBeyondTheSplit", "run {quickstart} --db {db} {tiny} data.train_limit=60001", 2,
   {"override 'data.train_limit=60001'", "data.train_limit exceeds the 60000 training images", "(got 60001)"}},
  {"DuplicateSweepPoints", "run {quickstart} --db {db} --multirun model.k=1,1", 2,
   {"sweep points 0 (model.k=1) and 1 (model.k=1) resolve to the same config"}},
  {"ValidationFractionAboveOne", "run {quickstart} --db {db} {tiny} data.validation=1.5", 2,
   {"override 'data.validation=1.5'", "data.validation must be a fraction below 1 or a whole number of images (got 1.5)"}},
  {"ValidationCountThatLeavesNoTrainingData", "run {quickstart} --db {db} {tiny} data.validation=256", 2,
   {"override 'data.validation=256'", "data.validation leaves no training data: 256 of the 256 training images", "(got 256)"}},
  {"MoeLayerThatMatchesNothing", "run {quickstart} --db {db} {tiny} model.moe_layers=layer9", 2,
   {"override 'model.moe_layers=layer9'", "model.moe_layers matches no block", "(got \"layer9\")"}},
  {"FixedExpertLayerThatMatchesNothing", "run {quickstart} --db {db} {tiny} eval.fixed_expert_layer=layer9.0", 2,
   {"override 'eval.fixed_expert_layer=layer9.0'", "eval.fixed_expert_layer names no MoE layer of this model", "(got \"layer9.0\")"}},
  // No such GPU here: "asks for CUDA" on a machine without one, "names a GPU that does not exist" on one with one.
  {"GpuThatIsNotHere", "run {quickstart} --db {db} {tiny} run.device=cuda:99", 2,
   {"override 'run.device=cuda:99': run.device "}},
  {"UnknownDevice", "run {quickstart} --db {db} {tiny} run.device=tpu", 2,
   {"override 'run.device=tpu'", "run.device must be cpu, cuda or cuda:N"}},
  {"MalformedOverrideKey", "run {quickstart} --db {db} model..k=1", 2, {"column 7: empty key segment before '.'", "      ^"}},
  {"OverrideWithoutAValue", "run {quickstart} --db {db} model.k", 2, {"override 'model.k'", "expected '=' after the key"}},
  {"MalformedOverrideValue", "run {quickstart} --db {db} 'attack.eps=[0.1,'", 2, {"override 'attack.eps=[0.1,'"}},
  {"UnknownInterpolation", "run {quickstart} --db {db} 'eval.batch_size=${trainer.batch_sise}'", 2,
   {"trainer.batch_sise", "did you mean 'trainer.batch_size'"}},
  {"UnknownConfigGroupOption", "run {quickstart} --db {db} model=small_resnt", 2, {"small_resnt", "did you mean 'small_resnet'"}},
  // The command line.
  {"UnknownCommand", "rnu", 2, {"unknown command 'rnu'", "did you mean 'run'"}},
  {"UnknownOption", "run {quickstart} --db {db} --no-such-option", 2, {"usage error", "no-such-option"}},
  {"NonNumericSweepId", "sweep resume abc --db {db}", 2, {"SWEEP_ID must be a number (got 'abc')"}},
  {"UnknownSweep", "sweep resume 42 --db {dir}/empty.db", 1, {"no sweep 42"}},
  {"BadWhereExpression", "db list --where 'model.k >' --db {dir}/empty.db", 2, {"model.k >"}},
  {"WriteThroughDbSql", "db sql 'DELETE FROM runs' --db {dir}/empty.db", 1, {"read-only statements only"}},
  // Plugins: exit 2 naming the library, nothing written.
  {"UnknownPlugin", "run {quickstart} --db {db} gate.name=no_such_gate", 2, {"unknown gate 'no_such_gate'", "registered"}},
  {"MisspeltPlugin", "run {quickstart} --db {db} gate.name=topkk", 2, {"unknown gate 'topkk'", "did you mean 'topk'"}},
  {"PluginPathThatDoesNotExist", "plugins --plugin-path /no/such/folder", 2,
   {"/no/such/folder", "plugin path is not a folder or a .so file"}},
  {"SharedLibraryThatIsNotAPlugin", "run {quickstart} --db {db} --plugin-path {plugins}/not_a_plugin.so", 2,
   {"plugin error", "not_a_plugin.so", "exports no 'armor_plugin' entry point"}},
  {"FileThatIsNotASharedLibrary", "plugins --plugin-path {plugins}/text_file.so", 2,
   {"text_file.so", "not a loadable shared library"}},
  {"PluginOfAnotherApiVersion", "plugins --plugin-path {plugins}/wrong_version_plugin.so", 2,
   {"wrong_version_plugin.so", "plugin API version", "rebuild the plugin"}},
  {"PluginThatThrowsWhileRegistering", "plugins --plugin-path {plugins}/throwing_plugin.so", 2,
   {"throwing_plugin.so", "registering its components failed: kaboom while registering"}},
  {"PluginWhoseFactoryThrows", "run {quickstart} --db {db} --plugin-path {plugins}/faulty_plugin.so data.name=faulty", 1,
   {"dataset 'faulty' could not be built: faulty dataset: factory threw on purpose", "faulty_plugin.so"}, 1},
  // Data whose folder or headers cannot be read: found while planning (exit 2, nothing written).
  {"MissingDataset", "run {quickstart} --db {db} {tiny} data.path=/no/such/folder", 2,
   {"override 'data.path=/no/such/folder'", "data.path is not a folder", "/no/such/folder"}},
  {"WrongFormatDataset", "run {quickstart} --db {db} {tiny} data.path={dir}/wrong_format", 2,
   {"override 'data.path=", "data.path cannot be read", "not an IDX file of unsigned bytes (bad magic number)", "idx3-ubyte"}},
  // Data and models: found by the run, which is recorded failed with the reason; exit 1.
  {"TruncatedDataset", "run {quickstart} --db {db} {tiny} data.path={dir}/truncated", 1,
   {"truncated: expected 200704 data bytes (the first 256 of its 60000 items), found", "train-images-idx3-ubyte"}, 1},
  {"LabelBeyondTheClassCount", "run {quickstart} --db {db} {tiny} data.path={dir}/bad_label", 1,
   {"train-labels-idx1-ubyte: label 200 at index 3 is out of range for 10 classes"}, 1},
  {"ModelInputDoesNotMatchTheData", "run {dir}/torchscript.toml --db {db}", 1,
   {"model 'torchscript' does not accept the images of dataset 'synthetic' ([1,8,8])", "3 channels"}, 1},
  // Results databases.
  {"DatabaseOfANewerSchema", "db list --db {dir}/newer.db", 1, {"newer.db has schema version 99, this armor supports up to 6"}},
  {"RunIntoADatabaseOfANewerSchema", "run {quickstart} --db {dir}/newer.db", 1, {"schema version 99", "upgrade armor"}},
  {"FileThatIsNotADatabase", "db list --db {dir}/text.db", 1, {"text.db", "not a database"}},
};
// clang-format on

std::string fixture_dir() { return (fs::temp_directory_path() / "armor_bad_inputs").string(); }

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// An IDX file header (magic for unsigned bytes, `dims` sizes) followed by `data_bytes` bytes.
void write_idx(const fs::path& path, std::vector<std::uint32_t> dims, std::size_t data_bytes) {
  std::ofstream out(path, std::ios::binary);
  const unsigned char magic[4] = {0, 0, 0x08, static_cast<unsigned char>(dims.size())};
  out.write(reinterpret_cast<const char*>(magic), 4);
  for (const std::uint32_t dim : dims) {
    const unsigned char big_endian[4] = {static_cast<unsigned char>(dim >> 24), static_cast<unsigned char>(dim >> 16),
                                         static_cast<unsigned char>(dim >> 8), static_cast<unsigned char>(dim)};
    out.write(reinterpret_cast<const char*>(big_endian), 4);
  }
  out << std::string(data_bytes, '\1');
}

class BadInputTest : public ::testing::TestWithParam<BadInput> {
 protected:
  static void SetUpTestSuite() {
    const fs::path dir = fixture_dir();
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string quickstart_file = quickstart();
    std::ofstream(dir / "malformed.toml") << "[model\nk = 1\n";
    std::ofstream(dir / "typo.toml") << "defaults = [\"" << quickstart_file << "\"]\n\n[model]\nnum_expert = 2\n";
    std::ofstream(dir / "section.toml") << "defaults = [\"" << quickstart_file << "\"]\n\n[modle]\nk = 2\n";
    std::ofstream(dir / "wrong_type.toml")
        << "defaults = [\"" << quickstart_file << "\"]\n[trainer]\nepochs = \"three\"\n";
    std::ofstream(dir / "torchscript.toml")
        << "[data]\nname = \"synthetic\"\nimage_size = 8\ntrain_size = 64\ntest_size = 32\n"
        << "[model]\nname = \"torchscript\"\npath = \"" << torchscript_model() << "\"\n"
        << "[trainer]\nname = \"standard\"\nepochs = 1\nbatch_size = 32\n";
    // Fashion-MNIST's four files, each claiming 60000 (10000) items and holding 100 bytes of them.
    fs::create_directories(dir / "truncated");
    write_idx(dir / "truncated" / "train-images-idx3-ubyte", {60000, 28, 28}, 100);
    write_idx(dir / "truncated" / "train-labels-idx1-ubyte", {60000}, 100);
    write_idx(dir / "truncated" / "t10k-images-idx3-ubyte", {10000, 28, 28}, 100);
    write_idx(dir / "truncated" / "t10k-labels-idx1-ubyte", {10000}, 100);
    // Valid IDX files (enough images for {tiny}) whose fourth training label is 200 of 10 classes.
    fs::create_directories(dir / "bad_label");
    write_idx(dir / "bad_label" / "train-images-idx3-ubyte", {300, 28, 28}, 300 * 28 * 28);
    write_idx(dir / "bad_label" / "train-labels-idx1-ubyte", {300}, 300);
    write_idx(dir / "bad_label" / "t10k-images-idx3-ubyte", {150, 28, 28}, 150 * 28 * 28);
    write_idx(dir / "bad_label" / "t10k-labels-idx1-ubyte", {150}, 150);
    {
      std::fstream labels(dir / "bad_label" / "train-labels-idx1-ubyte",
                          std::ios::binary | std::ios::in | std::ios::out);
      labels.seekp(8 + 3);
      labels.put(static_cast<char>(200));
    }
    std::ofstream(dir / "wide_eps.toml") << "defaults = [\"" << quickstart_file
                                         << "\"]\n\n[eval.attacks.pgd20]\neps = 2\n";
    std::ofstream(dir / "zero_steps.toml") << "defaults = [\"" << quickstart_file << "\"]\n\n[attack]\nsteps = 0\n";
    fs::create_directories(dir / "wrong_format");
    for (const char* name :
         {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
      std::ofstream(dir / "wrong_format" / name) << "P5 28 28 255 these are not IDX files\n";
    }
    { armor::RunStore empty((dir / "empty.db").string()); }
    { armor::RunStore store((dir / "newer.db").string()); }
    SQLite::Database((dir / "newer.db").string(), SQLite::OPEN_READWRITE).exec("PRAGMA user_version = 99");
    std::ofstream(dir / "text.db")
        << "not a database, but long enough to have a header that SQLite reads and rejects\n";
  }
  static void TearDownTestSuite() { fs::remove_all(fixture_dir()); }

  static std::string torchscript_model() {
    return std::string(ARMOR_TEST_SOURCE_DIR) + "/../shared/fixtures/autoattack/model.pt";
  }

  static std::string expand(const std::string& arguments, const std::string& db) {
    std::string text = replace_all(arguments, "{dir}", fixture_dir());
    text = replace_all(text, "{db}", db);
    text = replace_all(text, "{quickstart}", quickstart());
    text = replace_all(text, "{plugins}", std::string(ARMOR_TEST_BINARY_DIR) + "/test_plugins");
    return replace_all(text, "{tiny}", tiny() + " --outputs " + outputs_of(db));
  }
  // The outputs folder of a case's runs: one per case, so that a case that must write nothing can
  // check that its folder never appeared.
  static std::string outputs_of(const std::string& db) { return db.substr(0, db.size() - 3) + "_outputs"; }
};

TEST_P(BadInputTest, ExitsWithItsCodeAndAMessageNamingTheProblem) {
  const BadInput& input = GetParam();
  if (contains(input.arguments, "torchscript.toml") && !fs::exists(torchscript_model())) {
    GTEST_SKIP() << "no TorchScript model fixture at " << torchscript_model();
  }
  const std::string db = fixture_dir() + "/" + input.name + ".db";
  const Result result = run_armor(expand(input.arguments, db));
  EXPECT_EQ(result.exit_code, input.exit_code) << result.output;
  for (const std::string& part : input.message)
    EXPECT_TRUE(contains(result.output, part)) << part << "\n" << result.output;
  EXPECT_FALSE(contains(result.output, "terminate called")) << result.output;

  // Nothing half-written: no run at all, or the one run, recorded failed with the reason.
  std::int64_t runs = 0;
  if (fs::exists(db)) {
    const armor::ResultsReader store(db, armor::ResultsReader::Mode::read_only);
    const auto records = store.runs();
    runs = static_cast<std::int64_t>(records.size());
    for (const auto& run : records) {
      EXPECT_EQ(run.status, armor::RunStatus::failed);
      EXPECT_TRUE(contains(run.error, input.message.front())) << run.error;
    }
    EXPECT_EQ(store.query("SELECT count(*) FROM metrics").rows[0][0], "0");
    if (input.runs_recorded == 0) {
      EXPECT_EQ(store.query("SELECT count(*) FROM sweeps").rows[0][0], "0");
    }
  }
  EXPECT_EQ(runs, input.runs_recorded);
  if (input.runs_recorded == 0) {
    EXPECT_FALSE(fs::exists(outputs_of(db))) << outputs_of(db);
  }
  // A database of a newer armor is left as it was.
  SQLite::Database newer(fixture_dir() + "/newer.db", SQLite::OPEN_READONLY);
  EXPECT_EQ(newer.execAndGet("PRAGMA user_version").getInt(), 99);
}

INSTANTIATE_TEST_SUITE_P(Catalogue, BadInputTest, ::testing::ValuesIn(kCatalogue),
                         [](const ::testing::TestParamInfo<BadInput>& info) { return std::string(info.param.name); });

}  // namespace
