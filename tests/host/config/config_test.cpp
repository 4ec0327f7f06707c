// Tests of the configuration layer: override parsing, Config composition and overrides, multirun
// expansion, and resolve_experiment's validation against a registry of fake components.

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "armor/config/config.h"
#include "armor/config/experiment.h"
#include "armor/config/override.h"
#include "armor/config/sweep.h"
#include "armor/error.h"
#include "armor/params/param_schema.h"
#include "armor/params/param_value.h"
#include "armor/params/params.h"
#include "armor/plugin/registry.h"

namespace {

namespace fs = std::filesystem;
using Strings = std::vector<std::string>;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The message of the ConfigError `action` throws; fails the test when it throws nothing.
std::string config_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const armor::ConfigError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

// A fresh directory under the system's temporary folder, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    std::random_device random;
    path_ = fs::temp_directory_path() / ("armor_config_test_" + std::to_string(random()) + std::to_string(random()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `text` to `name` (relative to the directory, parents created); returns the full path.
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path file = path_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary);
    out << text;
    return file.string();
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

const toml::node& node_at(const armor::Config& config, const std::string& dotted) {
  const toml::node* node = config.table().at_path(dotted).node();
  if (node == nullptr) throw std::runtime_error("no node at " + dotted);
  return *node;
}

template <typename T>
T value_at(const armor::Config& config, const std::string& dotted) {
  const std::optional<T> value = node_at(config, dotted).value_exact<T>();
  if (!value) throw std::runtime_error("the node at " + dotted + " has another type");
  return *value;
}

armor::Config applied(const Strings& overrides) {
  armor::Config config;
  config.apply(overrides);
  return config;
}

// A registry with the default plugins of every section and a few more, whose factories build nothing.
const armor::Registry& test_registry() {
  static const armor::Registry registry = [] {
    armor::Registry r;
    r.add_dataset("fashion_mnist", "test dataset", armor::ParamSchema().string("root", "data", "Data folder"),
                  [](const armor::Params&) { return std::shared_ptr<armor::DatasetSplits>(); });
    r.add_model("moe", "test model",
                armor::ParamSchema()
                    .integer("k", 1, "Experts per input", 1)
                    .integer("num_experts", 4, "Experts", 1)
                    .real("dropout", 0.0, "Dropout", 0, 1)
                    .constraint("k <= num_experts", "k of the experts")
                    .check([](const armor::Params& p) {
                      if (p.real("dropout") > 0.5 && p.integer("k") > 1) p.fail("dropout", "must be <= 0.5 with k > 1");
                    }),
                [](const armor::Params&, const armor::ModelContext&) { return std::shared_ptr<armor::Classifier>(); });
    r.add_gate("topk", "test gate", armor::ParamSchema().boolean("noise", false, "Noisy gating"),
               [](const armor::Params&, const armor::GateShape&) { return std::shared_ptr<armor::Gate>(); });
    r.add_balancing("switch", "test balancing", armor::ParamSchema(),
                    [](const armor::Params&) { return std::shared_ptr<armor::BalancingLoss>(); });
    r.add_attack("pgd", "test attack",
                 armor::ParamSchema()
                     .real("eps", 0.1, "Budget", 0)
                     .real("step_size", 0.025, "Step", 0)
                     .integer("steps", 10, "Steps", 1)
                     .boolean("random_start", true, "Random start"),
                 [](const armor::Params&) { return std::shared_ptr<armor::Attack>(); });
    r.add_attack("fgsm", "test attack", armor::ParamSchema().real("eps", 0.3, "Budget", 0),
                 [](const armor::Params&) { return std::shared_ptr<armor::Attack>(); });
    r.add_trainer("standard", "test trainer",
                  armor::ParamSchema()
                      .integer("epochs", 1, "Epochs", 1)
                      .real("lr", 0.1, "Learning rate", 0)
                      .string("optimizer", "sgd", "Optimizer", {"sgd", "adam"}),
                  [](const armor::Params&) { return std::shared_ptr<armor::Trainer>(); });
    return r;
  }();
  return registry;
}

// The smallest experiment that resolves: the two sections without a default plugin.
const std::string kMinimal = "[model]\nname = \"moe\"\n\n[trainer]\nname = \"standard\"\n";

armor::Experiment resolve_text(const std::string& text, const Strings& overrides = {}) {
  armor::Config config = armor::Config::parse(text, "exp.toml");
  config.apply(overrides);
  return armor::resolve_experiment(config, test_registry());
}

std::string resolve_error(const std::string& text, const Strings& overrides = {}) {
  return config_error([&] { resolve_text(text, overrides); });
}

const armor::Params& eval_attack(const armor::Experiment& experiment, const std::string& metric) {
  for (const auto& params : experiment.eval_attacks) {
    if (armor::eval_attack_metric(params) == metric) return params;
  }
  throw std::runtime_error("no evaluation attack " + metric);
}

const armor::ParamValue* flat_param(const armor::Experiment& experiment, const std::string& key) {
  for (const auto& [name, value] : experiment.flat_params) {
    if (name == key) return &value;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// parse_override

TEST(ParseOverrideTest, SetSplitsKeyAndValueAndKeepsTheText) {
  const armor::Override o = armor::parse_override("model.k=3");
  EXPECT_EQ(o.op, armor::Override::Op::set);
  EXPECT_EQ(o.key, "model.k");
  EXPECT_EQ(o.value_text, "3");
  EXPECT_EQ(o.text, "model.k=3");
}

TEST(ParseOverrideTest, PrefixesSelectAddAddOrReplaceAndRemove) {
  const armor::Override add = armor::parse_override("+model.k=3");
  EXPECT_EQ(add.op, armor::Override::Op::add);
  EXPECT_EQ(add.key, "model.k");
  EXPECT_EQ(add.value_text, "3");

  const armor::Override replace = armor::parse_override("++model.k=4");
  EXPECT_EQ(replace.op, armor::Override::Op::add_or_replace);
  EXPECT_EQ(replace.key, "model.k");
  EXPECT_EQ(replace.value_text, "4");

  const armor::Override remove = armor::parse_override("~model.k");
  EXPECT_EQ(remove.op, armor::Override::Op::remove);
  EXPECT_EQ(remove.key, "model.k");
  EXPECT_EQ(remove.value_text, "");
  EXPECT_EQ(remove.text, "~model.k");
}

TEST(ParseOverrideTest, EverythingAfterTheFirstEqualsSignIsTheValue) {
  const armor::Override o = armor::parse_override("trainer.note=a=b");
  EXPECT_EQ(o.key, "trainer.note");
  EXPECT_EQ(o.value_text, "a=b");
}

TEST(ParseOverrideTest, EmptyKeySegmentIsReportedAtItsColumnWithTheOverrideText) {
  const std::string message = config_error([] { armor::parse_override("model..k=1"); });
  EXPECT_TRUE(contains(message, "override 'model..k=1'")) << message;
  EXPECT_TRUE(contains(message, "column 7")) << message;
}

TEST(ParseOverrideTest, ColumnsCountTheAddPrefix) {
  const std::string message = config_error([] { armor::parse_override("+model..k=1"); });
  EXPECT_TRUE(contains(message, "override '+model..k=1'")) << message;
  EXPECT_TRUE(contains(message, "column 8")) << message;
}

TEST(ParseOverrideTest, MissingKeyIsReportedAtColumnOne) {
  const std::string message = config_error([] { armor::parse_override("=3"); });
  EXPECT_TRUE(contains(message, "override '=3'")) << message;
  EXPECT_TRUE(contains(message, "column 1:")) << message;
}

TEST(ParseOverrideTest, KeyWithoutEqualsSignIsReportedAfterItsEnd) {
  const std::string message = config_error([] { armor::parse_override("model.k"); });
  EXPECT_TRUE(contains(message, "override 'model.k'")) << message;
  EXPECT_TRUE(contains(message, "column 8")) << message;
  EXPECT_TRUE(contains(message, "expected '='")) << message;
}

TEST(ParseOverrideTest, RemoveWithAValueIsReportedAtTheEqualsSign) {
  const std::string message = config_error([] { armor::parse_override("~model.k=3"); });
  EXPECT_TRUE(contains(message, "override '~model.k=3'")) << message;
  EXPECT_TRUE(contains(message, "column 9")) << message;
}

TEST(ParseOverrideTest, CharacterNotAllowedInAKeyIsReportedAtItsColumn) {
  const std::string message = config_error([] { armor::parse_override("model k=1"); });
  EXPECT_TRUE(contains(message, "override 'model k=1'")) << message;
  EXPECT_TRUE(contains(message, "column 6")) << message;
}

TEST(ParseOverrideTest, EmptyValueIsAnError) {
  const std::string message = config_error([] { armor::parse_override("model.k="); });
  EXPECT_TRUE(contains(message, "override 'model.k='")) << message;
  EXPECT_TRUE(contains(message, "column 9")) << message;
}

TEST(ParseOverrideTest, KeyEndingWithADotIsAnError) {
  const std::string message = config_error([] { armor::parse_override("model.=1"); });
  EXPECT_TRUE(contains(message, "override 'model.=1'")) << message;
  EXPECT_TRUE(contains(message, "column 6")) << message;
}

TEST(ParseOverrideTest, SplitKeySplitsADottedPathAtItsDots) {
  EXPECT_EQ(armor::split_key("eval.attacks.pgd20"), (Strings{"eval", "attacks", "pgd20"}));
  EXPECT_EQ(armor::split_key("seed"), (Strings{"seed"}));
}

// ---------------------------------------------------------------------------------------------
// Config::apply

TEST(ConfigApplyTest, IntegersFloatsAndBooleansBecomeTypedValues) {
  const armor::Config config = applied({"a.i=3", "a.n=-7", "a.f=0.25", "a.e=5e-4", "a.t=true", "a.b=false"});
  EXPECT_EQ(value_at<std::int64_t>(config, "a.i"), 3);
  EXPECT_EQ(value_at<std::int64_t>(config, "a.n"), -7);
  EXPECT_EQ(value_at<double>(config, "a.f"), 0.25);
  EXPECT_EQ(value_at<double>(config, "a.e"), 5e-4);
  EXPECT_TRUE(value_at<bool>(config, "a.t"));
  EXPECT_FALSE(value_at<bool>(config, "a.b"));
}

TEST(ConfigApplyTest, QuotedStringsKeepTheirTextAndBareWordsBecomeStrings) {
  const armor::Config config =
      applied({"a.q=\"two words\"", "a.s='3'", "a.w=pgd_at", "a.d=cuda:1", "a.sp=hello world"});
  EXPECT_EQ(value_at<std::string>(config, "a.q"), "two words");
  EXPECT_EQ(value_at<std::string>(config, "a.s"), "3");
  EXPECT_EQ(value_at<std::string>(config, "a.w"), "pgd_at");
  EXPECT_EQ(value_at<std::string>(config, "a.d"), "cuda:1");
  EXPECT_EQ(value_at<std::string>(config, "a.sp"), "hello world");
}

TEST(ConfigApplyTest, FractionsBecomeTheDoubleTheyDenote) {
  const armor::Config config = applied({"attack.eps=8/255", "a.neg=-1/4", "a.dec=0.5/2"});
  EXPECT_EQ(value_at<double>(config, "attack.eps"), 8.0 / 255.0);
  EXPECT_EQ(value_at<double>(config, "a.neg"), -0.25);
  EXPECT_EQ(value_at<double>(config, "a.dec"), 0.25);
}

TEST(ConfigApplyTest, FractionWithZeroDenominatorIsAnError) {
  const std::string message = config_error([] { applied({"attack.eps=1/0"}); });
  EXPECT_TRUE(contains(message, "override 'attack.eps=1/0'")) << message;
  EXPECT_TRUE(contains(message, "division by zero")) << message;
}

TEST(ConfigApplyTest, TomlArraysBecomeArrays) {
  const armor::Config config = applied({"a.list=[1, 2, 3]", "a.words=[\"x\",\"y\"]"});
  const toml::array* list = node_at(config, "a.list").as_array();
  ASSERT_NE(list, nullptr);
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ(list->at(2).value_exact<std::int64_t>(), 3);
  const toml::array* words = node_at(config, "a.words").as_array();
  ASSERT_NE(words, nullptr);
  ASSERT_EQ(words->size(), 2u);
  EXPECT_EQ(words->at(1).value_exact<std::string>(), "y");
}

TEST(ConfigApplyTest, MalformedArrayIsAnErrorWithAColumnInTheOverride) {
  const std::string message = config_error([] { applied({"a.list=[1,2"}); });
  EXPECT_TRUE(contains(message, "override 'a.list=[1,2'")) << message;
  // The column points into the override as typed: somewhere in the value "[1,2" (columns 8-11)
  // or just after it (12).
  std::smatch match;
  ASSERT_TRUE(std::regex_search(message, match, std::regex("column (\\d+)"))) << message;
  const int column = std::stoi(match[1].str());
  EXPECT_GE(column, 8) << message;
  EXPECT_LE(column, 12) << message;
}

TEST(ConfigParseTest, QuotedKeysThatAreNotBareKeysAreRefusedWithTheirPlace) {
  // ["'"] once parsed, printed as TOML that toml++ could not read again (tests/fuzz/config_fuzz.cpp).
  std::string message = config_error([] { armor::Config::parse("[\"'\"]\n", "exp.toml"); });
  EXPECT_TRUE(contains(message, "exp.toml:1:")) << message;
  EXPECT_TRUE(contains(message, "key \"'\" is not a bare key")) << message;
  message = config_error([] { armor::Config::parse("[model]\n\"two words\" = 1\n", "exp.toml"); });
  EXPECT_TRUE(contains(message, "exp.toml:2:")) << message;
  EXPECT_TRUE(contains(message, "\"two words\"")) << message;
  EXPECT_NO_THROW(armor::Config::parse("[eval.attacks.pgd-20]\nsteps_x = 1\n", "exp.toml"));
}

TEST(ConfigApplyTest, AddFailsOnAnExistingKeyAndNamesWhereItWasSet) {
  armor::Config config = armor::Config::parse("[model]\nk = 1\n", "exp.toml");
  const std::string message = config_error([&] { config.apply({"+model.k=2"}); });
  EXPECT_TRUE(contains(message, "override '+model.k=2'")) << message;
  EXPECT_TRUE(contains(message, "already set")) << message;
  EXPECT_TRUE(contains(message, "exp.toml:2:5")) << message;
  EXPECT_EQ(value_at<std::int64_t>(config, "model.k"), 1);
}

TEST(ConfigApplyTest, AddCreatesAMissingKeyAndAddOrReplaceReplacesAnExistingOne) {
  armor::Config config = armor::Config::parse("[model]\nk = 1\n", "exp.toml");
  config.apply({"+model.num_experts=8", "++model.k=2", "++model.width=16"});
  EXPECT_EQ(value_at<std::int64_t>(config, "model.num_experts"), 8);
  EXPECT_EQ(value_at<std::int64_t>(config, "model.k"), 2);
  EXPECT_EQ(value_at<std::int64_t>(config, "model.width"), 16);
}

TEST(ConfigApplyTest, RemoveDeletesAnExistingKey) {
  armor::Config config = armor::Config::parse("[model]\nk = 1\nnum_experts = 4\n", "exp.toml");
  config.apply({"~model.k"});
  EXPECT_FALSE(config.table().at_path("model.k"));
  EXPECT_TRUE(config.table().at_path("model.num_experts"));
}

TEST(ConfigApplyTest, RemovingAMissingKeyIsAnError) {
  armor::Config config = armor::Config::parse("[model]\nk = 1\n", "exp.toml");
  std::string message = config_error([&] { config.apply({"~model.width"}); });
  EXPECT_TRUE(contains(message, "override '~model.width'")) << message;
  EXPECT_TRUE(contains(message, "model.width")) << message;
  message = config_error([&] { config.apply({"~trainer.lr"}); });
  EXPECT_TRUE(contains(message, "override '~trainer.lr'")) << message;
  EXPECT_FALSE(config.table().contains("trainer"));
}

TEST(ConfigApplyTest, DottedPathsCreateTheTablesOnTheWay) {
  const armor::Config config = applied({"eval.attacks.pgd20.steps=20"});
  ASSERT_NE(node_at(config, "eval").as_table(), nullptr);
  ASSERT_NE(node_at(config, "eval.attacks").as_table(), nullptr);
  ASSERT_NE(node_at(config, "eval.attacks.pgd20").as_table(), nullptr);
  EXPECT_EQ(value_at<std::int64_t>(config, "eval.attacks.pgd20.steps"), 20);
}

TEST(ConfigApplyTest, SettingAKeyBelowAScalarIsAnError) {
  armor::Config config = armor::Config::parse("[model]\nk = 1\n", "exp.toml");
  const std::string message = config_error([&] { config.apply({"model.k.x=2"}); });
  EXPECT_TRUE(contains(message, "override 'model.k.x=2'")) << message;
  EXPECT_TRUE(contains(message, "not a table")) << message;
  EXPECT_EQ(value_at<std::int64_t>(config, "model.k"), 1);
}

TEST(ConfigApplyTest, LaterOverridesWin) {
  const armor::Config config = applied({"model.k=1", "model.k=2"});
  EXPECT_EQ(value_at<std::int64_t>(config, "model.k"), 2);
}

TEST(ConfigApplyTest, TheOverrideIsTheOriginOfItsValue) {
  armor::Config config = armor::Config::parse("[model]\nk = 1\n", "exp.toml");
  EXPECT_EQ(armor::origin_of(node_at(config, "model.k")), "exp.toml:2:5");
  config.apply({"model.k=3", "model.w=wide"});
  EXPECT_EQ(armor::origin_of(node_at(config, "model.k")), "override 'model.k=3'");
  EXPECT_EQ(armor::origin_of(node_at(config, "model.w")), "override 'model.w=wide'");
}

// ---------------------------------------------------------------------------------------------
// Config::load and Config::parse

TEST(ConfigLoadTest, TheFileWinsOverItsDefaults) {
  TempDir dir;
  dir.write("base.toml", "[model]\nk = 1\n\n[run]\nseed = 7\n");
  const std::string exp = dir.write("exp.toml", "defaults = [\"base.toml\"]\n\n[model]\nk = 2\n");
  const armor::Config config = armor::Config::load(exp);
  EXPECT_EQ(value_at<std::int64_t>(config, "model.k"), 2);
  EXPECT_EQ(value_at<std::int64_t>(config, "run.seed"), 7);
  EXPECT_FALSE(config.table().contains("defaults"));
  EXPECT_EQ(config.path(), exp);
}

TEST(ConfigLoadTest, NestedTablesMergeKeyByKey) {
  TempDir dir;
  dir.write("base.toml", "[model]\nk = 1\nnum_experts = 4\n\n[eval.attacks.pgd20]\nsteps = 20\neps = 0.1\n");
  const std::string exp =
      dir.write("exp.toml", "defaults = [\"base.toml\"]\n[model]\nk = 2\n[eval.attacks.pgd20]\neps = 0.2\n");
  const armor::Config config = armor::Config::load(exp);
  EXPECT_EQ(value_at<std::int64_t>(config, "model.k"), 2);
  EXPECT_EQ(value_at<std::int64_t>(config, "model.num_experts"), 4);
  EXPECT_EQ(value_at<std::int64_t>(config, "eval.attacks.pgd20.steps"), 20);
  EXPECT_EQ(value_at<double>(config, "eval.attacks.pgd20.eps"), 0.2);
}

TEST(ConfigLoadTest, LaterDefaultsWinOverEarlierOnes) {
  TempDir dir;
  dir.write("a.toml", "[model]\nk = 1\nwidth = 8\n");
  dir.write("b.toml", "[model]\nk = 2\n");
  const std::string exp = dir.write("exp.toml", "defaults = [\"a.toml\", \"b.toml\"]\n");
  const armor::Config config = armor::Config::load(exp);
  EXPECT_EQ(value_at<std::int64_t>(config, "model.k"), 2);
  EXPECT_EQ(value_at<std::int64_t>(config, "model.width"), 8);
}

TEST(ConfigLoadTest, DefaultsAreRelativeToTheIncludingFileAndTomlIsImplied) {
  TempDir dir;
  dir.write("sub/common.toml", "[run]\nseed = 3\n");
  dir.write("sub/base.toml", "defaults = [\"common\"]\n[model]\nk = 5\n");
  const std::string exp = dir.write("exp.toml", "defaults = [\"sub/base\"]\n");
  const armor::Config config = armor::Config::load(exp);
  EXPECT_EQ(value_at<std::int64_t>(config, "run.seed"), 3);
  EXPECT_EQ(value_at<std::int64_t>(config, "model.k"), 5);
}

TEST(ConfigLoadTest, AFileReachedTwiceWithoutACycleIsNotACycle) {
  TempDir dir;
  dir.write("shared.toml", "[run]\nseed = 1\n");
  dir.write("a.toml", "defaults = [\"shared.toml\"]\n[model]\nk = 1\n");
  dir.write("b.toml", "defaults = [\"shared.toml\"]\n[model]\nwidth = 2\n");
  const std::string exp = dir.write("exp.toml", "defaults = [\"a.toml\", \"b.toml\"]\n");
  const armor::Config config = armor::Config::load(exp);
  EXPECT_EQ(value_at<std::int64_t>(config, "run.seed"), 1);
  EXPECT_EQ(value_at<std::int64_t>(config, "model.k"), 1);
  EXPECT_EQ(value_at<std::int64_t>(config, "model.width"), 2);
}

TEST(ConfigLoadTest, MissingDefaultsFileIsAnErrorNamingIt) {
  TempDir dir;
  const std::string exp = dir.write("exp.toml", "defaults = [\"nowhere.toml\"]\n");
  const std::string message = config_error([&] { armor::Config::load(exp); });
  EXPECT_EQ(message.rfind(exp + ":1:", 0), 0u) << message;
  EXPECT_TRUE(contains(message, "'nowhere.toml' not found")) << message;
  EXPECT_TRUE(contains(message, dir.path("nowhere.toml"))) << message;
}

TEST(ConfigLoadTest, CycleOfDefaultsIsAnErrorNamingTheFile) {
  TempDir dir;
  const std::string a = dir.write("a.toml", "defaults = [\"b.toml\"]\n");
  dir.write("b.toml", "defaults = [\"a.toml\"]\n");
  const std::string message = config_error([&] { armor::Config::load(a); });
  EXPECT_TRUE(contains(message, "a.toml")) << message;
  EXPECT_TRUE(contains(message, "cycle")) << message;
}

TEST(ConfigLoadTest, AFileThatIncludesItselfIsACycle) {
  TempDir dir;
  const std::string exp = dir.write("exp.toml", "defaults = [\"exp.toml\"]\n");
  const std::string message = config_error([&] { armor::Config::load(exp); });
  EXPECT_TRUE(contains(message, "exp.toml")) << message;
  EXPECT_TRUE(contains(message, "cycle")) << message;
}

TEST(ConfigLoadTest, DefaultsThatAreNotAnArrayOfFilesAndGroupChoicesAreErrors) {
  TempDir dir;
  const std::string scalar = dir.write("scalar.toml", "defaults = \"base.toml\"\n");
  std::string message = config_error([&] { armor::Config::load(scalar); });
  EXPECT_EQ(message.rfind(scalar + ":1:", 0), 0u) << message;
  EXPECT_TRUE(contains(message, "array")) << message;
  const std::string number = dir.write("number.toml", "defaults = [3]\n");
  message = config_error([&] { armor::Config::load(number); });
  EXPECT_EQ(message.rfind(number + ":1:", 0), 0u) << message;
  EXPECT_TRUE(contains(message, "file names or { group = \"option\" } tables")) << message;
}

TEST(ConfigLoadTest, TomlSyntaxErrorNamesFileLineAndColumn) {
  TempDir dir;
  const std::string exp = dir.write("exp.toml", "[model]\nk = 1\nwidth = = 3\n");
  const std::string message = config_error([&] { armor::Config::load(exp); });
  ASSERT_EQ(message.rfind(exp + ":3:", 0), 0u) << message;
  EXPECT_TRUE(std::regex_search(message.substr(exp.size()), std::regex(R"(^:3:[0-9]+: TOML syntax error)"))) << message;
}

TEST(ConfigLoadTest, TomlSyntaxErrorInADefaultsFileNamesThatFile) {
  TempDir dir;
  const std::string base = dir.write("base.toml", "[model\n");
  const std::string exp = dir.write("exp.toml", "defaults = [\"base.toml\"]\n");
  const std::string message = config_error([&] { armor::Config::load(exp); });
  EXPECT_EQ(message.rfind(base + ":1:", 0), 0u) << message;
  EXPECT_TRUE(contains(message, "TOML syntax error")) << message;
}

TEST(ConfigLoadTest, MissingExperimentFileIsAnError) {
  TempDir dir;
  const std::string missing = dir.path("missing.toml");
  const std::string message = config_error([&] { armor::Config::load(missing); });
  EXPECT_TRUE(contains(message, missing)) << message;
}

TEST(ConfigLoadTest, LoadedValuesKeepTheirFilePositions) {
  TempDir dir;
  const std::string base = dir.write("base.toml", "[run]\nseed = 7\n");
  const std::string exp = dir.write("exp.toml", "defaults = [\"base.toml\"]\n\n[model]\nk = 2\n");
  const armor::Config config = armor::Config::load(exp);
  EXPECT_EQ(armor::origin_of(node_at(config, "model.k")), exp + ":4:5");
  EXPECT_EQ(armor::origin_of(node_at(config, "run.seed")), base + ":2:8");
}

TEST(ConfigParseTest, SyntaxErrorNamesTheSourceLineAndColumn) {
  const std::string message = config_error([] { armor::Config::parse("a = 1\nb = [\n", "stored run 3"); });
  EXPECT_TRUE(std::regex_search(message, std::regex(R"(^stored run 3:[0-9]+:[0-9]+: TOML syntax error)"))) << message;
}

// ---------------------------------------------------------------------------------------------
// Multirun

TEST(MultirunTest, CartesianProductVariesTheLastOverrideFastest) {
  const auto points = armor::expand_multirun({"model.num_experts=2,4", "model.k=1,2,3"});
  const std::vector<Strings> expected{
      {"model.num_experts=2", "model.k=1"}, {"model.num_experts=2", "model.k=2"}, {"model.num_experts=2", "model.k=3"},
      {"model.num_experts=4", "model.k=1"}, {"model.num_experts=4", "model.k=2"}, {"model.num_experts=4", "model.k=3"},
  };
  EXPECT_EQ(points, expected);
}

TEST(MultirunTest, SingleValuesAndRemovalsAppearInEveryPoint) {
  const auto points = armor::expand_multirun({"run.seed=1", "~model.width", "+model.k=1,2"});
  const std::vector<Strings> expected{
      {"run.seed=1", "~model.width", "+model.k=1"},
      {"run.seed=1", "~model.width", "+model.k=2"},
  };
  EXPECT_EQ(points, expected);
}

TEST(MultirunTest, NoOverridesIsOnePointWithoutOverrides) {
  EXPECT_EQ(armor::expand_multirun({}), std::vector<Strings>{Strings{}});
}

TEST(MultirunTest, RangeCountsFromStartToBeforeStop) {
  EXPECT_EQ(armor::sweep_values("run.seed=range(0,3)", "range(0,3)"), (Strings{"0", "1", "2"}));
  EXPECT_EQ(armor::expand_multirun({"run.seed=range(0,3)"}),
            (std::vector<Strings>{{"run.seed=0"}, {"run.seed=1"}, {"run.seed=2"}}));
}

TEST(MultirunTest, RangeTakesAStep) {
  EXPECT_EQ(armor::sweep_values("run.seed=range(1,7,2)", "range(1,7,2)"), (Strings{"1", "3", "5"}));
  EXPECT_EQ(armor::sweep_values("run.seed=range(3,0,-1)", "range(3,0,-1)"), (Strings{"3", "2", "1"}));
}

TEST(MultirunTest, CommasInsideBracketsBracesAndQuotesDoNotSplit) {
  EXPECT_EQ(armor::sweep_values("a=[1,2],[3,4]", "[1,2],[3,4]"), (Strings{"[1,2]", "[3,4]"}));
  EXPECT_EQ(armor::sweep_values("a={x=1,y=2}", "{x=1,y=2}"), (Strings{"{x=1,y=2}"}));
  EXPECT_EQ(armor::sweep_values("a=\"x,y\",z", "\"x,y\",z"), (Strings{"\"x,y\"", "z"}));
  EXPECT_EQ(armor::expand_multirun({"a.list=[1,2]"}), (std::vector<Strings>{{"a.list=[1,2]"}}));
}

TEST(MultirunTest, EmptyValuesInASweepListAreErrors) {
  for (const std::string value : {"2,,4", "2,", ",2"}) {
    const std::string text = "model.k=" + value;
    const std::string message = config_error([&] { armor::expand_multirun({text}); });
    EXPECT_TRUE(contains(message, "override '" + text + "'")) << message;
    EXPECT_TRUE(contains(message, "empty value")) << message;
  }
}

TEST(MultirunTest, MalformedRangesAreErrors) {
  for (const std::string value : {"range(0,3,0)", "range(3,0)", "range(a,3)", "range(1)", "range(1,2,3,4)"}) {
    const std::string text = "run.seed=" + value;
    const std::string message = config_error([&] { armor::sweep_values(text, value); });
    EXPECT_TRUE(contains(message, "override '" + text + "'")) << message;
    EXPECT_TRUE(contains(message, "range(")) << message;
  }
}

// Found by tests/fuzz/override_fuzz: bounds whose count is not a number were cast to an integer.
TEST(MultirunTest, RangesOfHugeOrNonFiniteBoundsAreErrors) {
  const std::string huge(120, '4');
  for (const std::string& value :
       std::vector<std::string>{"range(" + huge + ",0)", "range(0," + huge + ")", "range(-1e308,1e308)", "range(nan,3)",
                                "range(0,inf)", "range(0,3,nan)"}) {
    const std::string text = "run.seed=" + value;
    const std::string message = config_error([&] { armor::sweep_values(text, value); });
    EXPECT_TRUE(contains(message, "override '" + text + "'")) << message;
  }
  // Integers beyond a double's exact range print as numbers, never through an integer cast.
  EXPECT_EQ(armor::sweep_values("x=range(1e300,2e300,1e300)", "range(1e300,2e300,1e300)").size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// resolve_experiment

TEST(ResolveExperimentTest, EveryDefaultIsFilledIn) {
  const armor::Experiment experiment = resolve_text(kMinimal);
  EXPECT_EQ(experiment.section("run").integer("seed"), 0);
  EXPECT_EQ(experiment.section("run").string("device"), "cpu");
  EXPECT_GE(experiment.section("run").integer("threads"), 1);  // 0 means every core
  EXPECT_EQ(experiment.section("data").string("name"), "fashion_mnist");
  EXPECT_EQ(experiment.section("data").string("root"), "data");
  EXPECT_EQ(experiment.section("data").integer("train_limit"), 0);
  EXPECT_EQ(experiment.section("model").integer("k"), 1);
  EXPECT_EQ(experiment.section("model").integer("num_experts"), 4);
  EXPECT_EQ(experiment.section("model").origin("k"), "default");
  EXPECT_EQ(experiment.section("gate").string("name"), "topk");
  EXPECT_FALSE(experiment.section("gate").boolean("noise"));
  EXPECT_EQ(experiment.section("balancing").string("name"), "switch");
  EXPECT_EQ(experiment.section("balancing").real("weight"), 0.0) << "off unless an experiment asks for one";
  EXPECT_EQ(experiment.section("attack").string("name"), "pgd");
  EXPECT_EQ(experiment.section("attack").integer("steps"), 10);
  EXPECT_EQ(experiment.section("trainer").string("optimizer"), "sgd");
  EXPECT_EQ(experiment.section("eval").integer("batch_size"), 256);
  EXPECT_TRUE(experiment.eval_attacks.empty());
  EXPECT_EQ(experiment.seed(), 0);
  // The resolved table holds every key too.
  EXPECT_EQ(experiment.resolved.at_path("model.num_experts").value_exact<std::int64_t>(), 4);
  EXPECT_EQ(experiment.resolved.at_path("attack.eps").value_exact<double>(), 0.1);
}

TEST(ResolveExperimentTest, GivenValuesReplaceDefaultsAndRecordTheirOrigin) {
  const armor::Experiment experiment = resolve_text(kMinimal + "\n[run]\nseed = 5\nthreads = 2\n", {"model.k=2"});
  EXPECT_EQ(experiment.seed(), 5);
  EXPECT_EQ(experiment.section("run").origin("seed"), "exp.toml:8:8");
  EXPECT_EQ(experiment.section("run").integer("threads"), 2);
  EXPECT_EQ(experiment.section("model").integer("k"), 2);
  EXPECT_EQ(experiment.section("model").origin("k"), "override 'model.k=2'");
}

TEST(ResolveExperimentTest, MissingModelNameIsAnError) {
  const std::string message = resolve_error("[trainer]\nname = \"standard\"\n");
  EXPECT_TRUE(contains(message, "[model] needs name")) << message;
}

TEST(ResolveExperimentTest, UnknownSectionIsAnErrorWithASuggestion) {
  const std::string message = resolve_error(kMinimal + "\n[modle]\nk = 2\n");
  EXPECT_TRUE(contains(message, "unknown section 'modle' (did you mean 'model'?)")) << message;
  EXPECT_EQ(message.rfind("exp.toml:7:", 0), 0u) << message;
}

TEST(ResolveExperimentTest, UnknownKeyIsAnErrorWithASuggestionAndItsPosition) {
  const std::string message =
      resolve_error("[model]\nname = \"moe\"\nnum_expert = 8\n\n[trainer]\nname = \"standard\"\n");
  EXPECT_EQ(message.rfind("exp.toml:3:14: unknown key model.num_expert", 0), 0u) << message;
  EXPECT_TRUE(contains(message, "(did you mean 'num_experts'?)")) << message;
}

TEST(ResolveExperimentTest, UnknownKeyInALoadedFileNamesFileLineAndColumn) {
  TempDir dir;
  const std::string exp = dir.write("exp.toml", "[model]\nname = \"moe\"\nkk = 2\n\n[trainer]\nname = \"standard\"\n");
  const armor::Config config = armor::Config::load(exp);
  const std::string message = config_error([&] { armor::resolve_experiment(config, test_registry()); });
  EXPECT_EQ(message.rfind(exp + ":3:6: unknown key model.kk", 0), 0u) << message;
  EXPECT_TRUE(contains(message, "(did you mean 'k'?)")) << message;
}

// [data] validation is a fraction below 1 or a whole number of images; 1.5 is neither, and is
// refused when the config is resolved, not when the run splits its data.
TEST(ResolveExperimentTest, ValidationAboveOneThatIsNotACountIsRefusedWithItsOrigin) {
  EXPECT_EQ(resolve_error(kMinimal + "\n[data]\nvalidation = 1.5\n"),
            "exp.toml:8:14: data.validation must be a fraction below 1 or a whole number of images (got 1.5)");
  EXPECT_EQ(resolve_text(kMinimal + "\n[data]\nvalidation = 0.5\n").section("data").real("validation"), 0.5);
  EXPECT_EQ(resolve_text(kMinimal, {"data.validation=100"}).section("data").real("validation"), 100.0);
}

TEST(ResolveExperimentTest, UnknownKeyInAHostSectionIsAnError) {
  const std::string message = resolve_error(kMinimal + "\n[run]\nsed = 1\n");
  EXPECT_TRUE(contains(message, "unknown key run.sed (did you mean 'seed'?)")) << message;
}

TEST(ResolveExperimentTest, WronglyTypedValueNamesTheKeyAndTheValue) {
  const std::string message = resolve_error("[model]\nname = \"moe\"\nk = \"two\"\n\n[trainer]\nname = \"standard\"\n");
  EXPECT_EQ(message, "exp.toml:3:5: model.k must be an integer (got \"two\", a string)");
}

TEST(ResolveExperimentTest, WronglyTypedOverrideNamesTheOverride) {
  const std::string message = resolve_error(kMinimal, {"gate.noise=1"});
  EXPECT_EQ(message.rfind("override 'gate.noise=1': gate.noise must be a boolean (got 1,", 0), 0u) << message;
}

TEST(ResolveExperimentTest, ValueBelowTheMinimumIsAnError) {
  const std::string message = resolve_error(kMinimal + "epochs = 0\n");
  EXPECT_EQ(message, "exp.toml:6:10: trainer.epochs must be >= 1 (got 0)");
}

TEST(ResolveExperimentTest, ValueAboveTheMaximumIsAnError) {
  const std::string message = resolve_error(kMinimal, {"model.dropout=1.5"});
  EXPECT_EQ(message, "override 'model.dropout=1.5': model.dropout must be <= 1 (got 1.5)");
}

TEST(ResolveExperimentTest, StringOutsideItsChoicesIsAnErrorWithASuggestion) {
  const std::string message = resolve_error(kMinimal, {"trainer.optimizer=adma"});
  EXPECT_EQ(message,
            "override 'trainer.optimizer=adma': trainer.optimizer must be one of sgd, adam (got \"adma\") "
            "(did you mean 'adam'?)");
}

TEST(ResolveExperimentTest, UnknownPluginNameIsNamedWithASuggestion) {
  const std::string message = resolve_error("[model]\nname = \"moee\"\n\n[trainer]\nname = \"standard\"\n");
  EXPECT_EQ(message.rfind("exp.toml:2:8: model.name: unknown model 'moee' (did you mean 'moe'?)", 0), 0u) << message;
}

TEST(ResolveExperimentTest, DeclaredConstraintFailureNamesTheOverrideAndTheValues) {
  const std::string message = resolve_error(kMinimal, {"model.k=5"});
  EXPECT_EQ(message,
            "override 'model.k=5': model: k <= num_experts does not hold (k = 5, num_experts = 4): k of the experts");
}

TEST(ResolveExperimentTest, DeclaredConstraintFailureNamesTheFilePosition) {
  TempDir dir;
  const std::string exp =
      dir.write("exp.toml", "[model]\nname = \"moe\"\nk = 3\nnum_experts = 2\n\n[trainer]\nname = \"standard\"\n");
  const armor::Config config = armor::Config::load(exp);
  const std::string message = config_error([&] { armor::resolve_experiment(config, test_registry()); });
  EXPECT_EQ(message, exp + ":3:5: model: k <= num_experts does not hold (k = 3, num_experts = 2): k of the experts");
}

TEST(ResolveExperimentTest, DeclaredConstraintsAreRecordedOverDottedKeysAndSkippedWithoutChecks) {
  EXPECT_EQ(resolve_text(kMinimal).declared_constraints, (std::vector<std::string>{"model.k <= model.num_experts"}));
  armor::Config broken = armor::Config::parse(kMinimal, "exp.toml");
  broken.apply({"model.k=5"});
  armor::ResolveOptions unchecked;
  unchecked.run_checks = false;
  const armor::Experiment experiment = armor::resolve_experiment(broken, test_registry(), unchecked);
  EXPECT_EQ(experiment.section("model").integer("k"), 5);
  EXPECT_EQ(experiment.declared_constraints, (std::vector<std::string>{"model.k <= model.num_experts"}));
}

TEST(ResolveExperimentTest, PluginCheckFailureNamesTheOverrideThatCausedIt) {
  const std::string message = resolve_error(kMinimal, {"model.k=2", "model.dropout=0.8"});
  EXPECT_EQ(message, "override 'model.dropout=0.8': model.dropout must be <= 0.5 with k > 1 (got 0.8)");
}

TEST(ResolveExperimentTest, HostCheckRejectsAnUnknownDevice) {
  const std::string message = resolve_error(kMinimal, {"run.device=gpu"});
  EXPECT_EQ(message.rfind("override 'run.device=gpu': run.device must be cpu, cuda or cuda:N", 0), 0u) << message;
}

TEST(ResolveExperimentTest, FloatParamsAcceptIntegersAndFractionStrings) {
  const armor::Experiment experiment =
      resolve_text(kMinimal + "\n[attack]\neps = \"8/255\"\nstep_size = 1\n\n[balancing]\nweight = 0\n");
  EXPECT_EQ(experiment.section("attack").real("eps"), 8.0 / 255.0);
  EXPECT_EQ(experiment.section("attack").real("step_size"), 1.0);
  EXPECT_EQ(experiment.section("balancing").real("weight"), 0.0);
  EXPECT_EQ(experiment.resolved.at_path("attack.eps").value_exact<double>(), 8.0 / 255.0);
}

TEST(ResolveExperimentTest, FractionOverrideOfAFloatParamIsExact) {
  const armor::Experiment experiment = resolve_text(kMinimal, {"attack.eps=2/255"});
  EXPECT_EQ(experiment.section("attack").real("eps"), 2.0 / 255.0);
}

TEST(ResolveExperimentTest, NonFractionStringForAFloatParamIsAnError) {
  const std::string message = resolve_error(kMinimal + "\n[attack]\neps = \"small\"\n");
  EXPECT_EQ(message, "exp.toml:8:7: attack.eps must be a float (got \"small\", a string)");
}

TEST(ResolveExperimentTest, FloatForAnIntegerParamIsAnError) {
  const std::string message = resolve_error(kMinimal, {"model.k=2.0"});
  EXPECT_TRUE(contains(message, "model.k must be an integer (got 2, a float)")) << message;
}

TEST(ResolveExperimentTest, SectionThatIsNotATableIsAnError) {
  const std::string message = resolve_error("model = 3\n[trainer]\nname = \"standard\"\n");
  EXPECT_TRUE(contains(message, "model must be a table")) << message;
}

TEST(ResolveExperimentTest, EvalAttackOfTheSamePluginInheritsTheThreatModelAndItsOwnKeysWin) {
  const armor::Experiment experiment = resolve_text(kMinimal +
                                                    "\n[attack]\neps = 0.2\nsteps = 5\nrandom_start = false\n"
                                                    "\n[eval.attacks.pgd20]\nsteps = 20\neps = \"8/255\"\n");
  ASSERT_EQ(experiment.eval_attacks.size(), 1u);
  const armor::Params& pgd20 = eval_attack(experiment, "pgd20");
  EXPECT_EQ(pgd20.section(), "eval.attacks.pgd20");
  EXPECT_EQ(pgd20.string("name"), "pgd");
  EXPECT_EQ(pgd20.integer("steps"), 20);
  EXPECT_EQ(pgd20.real("eps"), 8.0 / 255.0);
  EXPECT_FALSE(pgd20.boolean("random_start"));  // inherited from [attack]
  EXPECT_EQ(pgd20.real("step_size"), 0.025);    // the plugin default
  EXPECT_EQ(pgd20.origin("steps"), "exp.toml:13:9");
  EXPECT_EQ(pgd20.origin("random_start"), "exp.toml:10:16");  // where [attack] set it
  EXPECT_EQ(pgd20.origin("step_size"), "default");
  EXPECT_EQ(experiment.section("attack").integer("steps"), 5);
  EXPECT_EQ(experiment.resolved.at_path("eval.attacks.pgd20.steps").value_exact<std::int64_t>(), 20);
  EXPECT_EQ(experiment.resolved.at_path("eval.attacks.pgd20.random_start").value_exact<bool>(), false);
}

TEST(ResolveExperimentTest, EvalAttackNamingTheThreatPluginAlsoInherits) {
  const armor::Experiment experiment =
      resolve_text(kMinimal + "\n[attack]\nsteps = 5\n\n[eval.attacks.strong]\nname = \"pgd\"\neps = 0.3\n");
  const armor::Params& strong = eval_attack(experiment, "strong");
  EXPECT_EQ(strong.integer("steps"), 5);
  EXPECT_EQ(strong.real("eps"), 0.3);
}

TEST(ResolveExperimentTest, EvalAttackOfAnotherPluginDoesNotInherit) {
  const armor::Experiment experiment = resolve_text(kMinimal +
                                                    "\n[attack]\neps = 0.2\nsteps = 5\n"
                                                    "\n[eval.attacks.fgsm]\nname = \"fgsm\"\n");
  const armor::Params& fgsm = eval_attack(experiment, "fgsm");
  EXPECT_EQ(fgsm.string("name"), "fgsm");
  EXPECT_EQ(fgsm.real("eps"), 0.3);  // fgsm's default, not [attack]'s 0.2
  EXPECT_FALSE(fgsm.has("steps"));
}

TEST(ResolveExperimentTest, EvalAttackErrorsNameTheirPosition) {
  std::string message = resolve_error(kMinimal + "\n[eval.attacks.pgd20]\nstep = 20\n");
  EXPECT_EQ(message.rfind("exp.toml:8:8: unknown key eval.attacks.pgd20.step", 0), 0u) << message;
  EXPECT_TRUE(contains(message, "(did you mean 'steps'?)")) << message;
  message = resolve_error(kMinimal + "\n[eval.attacks.pgd20]\nsteps = \"many\"\n");
  EXPECT_EQ(message, "exp.toml:8:9: eval.attacks.pgd20.steps must be an integer (got \"many\", a string)");
}

TEST(ResolveExperimentTest, EvalAttackMetricNamesAreRestricted) {
  const std::string message = resolve_error(kMinimal, {"eval.attacks.PGD-20.steps=20"});
  EXPECT_TRUE(contains(message, "metric names use a-z, 0-9 and _")) << message;
}

TEST(ResolveExperimentTest, FlatParamsHoldDottedKeysWithTheirTypes) {
  const armor::Experiment experiment = resolve_text(kMinimal + "\n[eval.attacks.pgd20]\nsteps = 20\n", {"model.k=2"});
  const armor::ParamValue* k = flat_param(experiment, "model.k");
  ASSERT_NE(k, nullptr);
  ASSERT_TRUE(std::holds_alternative<std::int64_t>(*k));
  EXPECT_EQ(std::get<std::int64_t>(*k), 2);
  const armor::ParamValue* eps = flat_param(experiment, "attack.eps");
  ASSERT_NE(eps, nullptr);
  EXPECT_TRUE(std::holds_alternative<double>(*eps));
  const armor::ParamValue* name = flat_param(experiment, "model.name");
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(std::get<std::string>(*name), "moe");
  const armor::ParamValue* noise = flat_param(experiment, "gate.noise");
  ASSERT_NE(noise, nullptr);
  EXPECT_TRUE(std::holds_alternative<bool>(*noise));
  const armor::ParamValue* steps = flat_param(experiment, "eval.attacks.pgd20.steps");
  ASSERT_NE(steps, nullptr);
  EXPECT_EQ(std::get<std::int64_t>(*steps), 20);
}

TEST(ResolveExperimentTest, HashChangesWithAValueAndIsStableOtherwise) {
  const std::string first = resolve_text(kMinimal, {"model.k=2"}).hash();
  EXPECT_EQ(first.size(), 16u);
  EXPECT_EQ(first.find_first_not_of("0123456789abcdef"), std::string::npos) << first;
  EXPECT_EQ(resolve_text(kMinimal, {"model.k=2"}).hash(), first);
  // The same values written differently (in the file, or as a default) hash the same.
  EXPECT_EQ(resolve_text("[model]\nname = \"moe\"\nk = 2\n\n[trainer]\nname = \"standard\"\n").hash(), first);
  EXPECT_EQ(resolve_text(kMinimal, {"model.k=2", "model.num_experts=4"}).hash(), first);
  EXPECT_NE(resolve_text(kMinimal, {"model.k=3"}).hash(), first);
  EXPECT_NE(resolve_text(kMinimal, {"model.k=2", "run.seed=1"}).hash(), first);
}

// ---------------------------------------------------------------------------------------------
// Issue 3: groups, interpolation, the existence rule, sweep functions, carets

TEST(ConfigGroupTest, DefaultsListChoiceNestsTheOptionUnderItsGroup) {
  TempDir dir;
  dir.write("model/small.toml", "name = \"moe\"\nnum_experts = 2\n");
  const std::string experiment =
      dir.write("exp.toml", "defaults = [{ model = \"small\" }]\n[trainer]\nname = \"standard\"\n");
  const armor::Config config = armor::Config::load(experiment);
  EXPECT_EQ(value_at<std::int64_t>(config, "model.num_experts"), 2);
  EXPECT_EQ(value_at<std::string>(config, "model.name"), "moe");
}

TEST(ConfigGroupTest, CommandLineChoiceReplacesTheDefaultsChoiceAndTheFileStillWins) {
  TempDir dir;
  dir.write("model/small.toml", "name = \"moe\"\nnum_experts = 2\nk = 1\n");
  dir.write("model/large.toml", "name = \"moe\"\nnum_experts = 8\nk = 2\n");
  const std::string experiment =
      dir.write("exp.toml", "defaults = [{ model = \"small\" }]\n[model]\nk = 1\n[trainer]\nname = \"standard\"\n");
  const armor::Config config = armor::Config::compose(experiment, {"model=large"});
  EXPECT_EQ(value_at<std::int64_t>(config, "model.num_experts"), 8);
  EXPECT_EQ(value_at<std::int64_t>(config, "model.k"), 1);  // the experiment's own value comes after the group
}

TEST(ConfigGroupTest, GroupsAreFoundInParentFolders) {
  TempDir dir;
  dir.write("attack/strong.toml", "name = \"pgd\"\nsteps = 50\n");
  const std::string experiment = dir.write("paper/exp.toml", kMinimal);
  const armor::Config config = armor::Config::compose(experiment, {"attack=strong"});
  EXPECT_EQ(value_at<std::int64_t>(config, "attack.steps"), 50);
}

TEST(ConfigGroupTest, UnknownOptionListsTheOptionsWithASuggestion) {
  TempDir dir;
  dir.write("model/small.toml", "name = \"moe\"\n");
  dir.write("model/large.toml", "name = \"moe\"\n");
  const std::string experiment = dir.write("exp.toml", kMinimal);
  const std::string message = config_error([&] { armor::Config::compose(experiment, {"model=smal"}); });
  EXPECT_TRUE(contains(message, "override 'model=smal'")) << message;
  EXPECT_TRUE(contains(message, "has no option 'smal'")) << message;
  EXPECT_TRUE(contains(message, "did you mean 'small'?")) << message;
  EXPECT_TRUE(contains(message, "large, small")) << message;
}

TEST(ConfigGroupTest, UnknownGroupSuggestsAnExistingOne) {
  TempDir dir;
  dir.write("model/small.toml", "name = \"moe\"\n");
  const std::string experiment = dir.write("exp.toml", kMinimal);
  const std::string message = config_error([&] { armor::Config::compose(experiment, {"modle=small"}); });
  EXPECT_TRUE(contains(message, "unknown config group 'modle'")) << message;
  EXPECT_TRUE(contains(message, "did you mean 'model'?")) << message;
}

TEST(InterpolationTest, AWholeReferenceKeepsTheReferencedType) {
  armor::Config config = armor::Config::parse("[model]\nnum_experts = 4\nk = \"${model.num_experts}\"\n", "exp.toml");
  config.interpolate();
  EXPECT_EQ(value_at<std::int64_t>(config, "model.k"), 4);
}

TEST(InterpolationTest, ReferencesInsideAStringAreReplacedByText) {
  armor::Config config =
      armor::Config::parse("[a]\nx = 3\nname = \"run-${a.x}-of-${b.y}\"\n[b]\ny = \"z\"\n", "exp.toml");
  config.interpolate();
  EXPECT_EQ(value_at<std::string>(config, "a.name"), "run-3-of-z");
}

TEST(InterpolationTest, ChainsResolveInAnyOrder) {
  armor::Config config = armor::Config::parse("[a]\nx = \"${b.y}\"\n[b]\ny = \"${c.z}\"\n[c]\nz = 0.5\n", "exp.toml");
  config.interpolate();
  EXPECT_EQ(value_at<double>(config, "a.x"), 0.5);
}

TEST(InterpolationTest, ACycleIsAnErrorNamingItsKeys) {
  armor::Config config = armor::Config::parse("[a]\nx = \"${a.y}\"\ny = \"${a.x}\"\n", "exp.toml");
  const std::string message = config_error([&] { config.interpolate(); });
  EXPECT_TRUE(contains(message, "interpolation cycle")) << message;
  EXPECT_TRUE(contains(message, "a.x -> a.y -> a.x")) << message;
}

TEST(InterpolationTest, AMissingKeyIsAnErrorWithItsPositionAndASuggestion) {
  armor::Config config = armor::Config::parse("[model]\nnum_experts = 4\nk = \"${model.num_expert}\"\n", "exp.toml");
  const std::string message = config_error([&] { config.interpolate(); });
  EXPECT_TRUE(contains(message, "exp.toml:3:5")) << message;
  EXPECT_TRUE(contains(message, "did you mean 'model.num_experts'?")) << message;
}

TEST(InterpolationTest, InterpolatedValuesAreValidatedWithTheirOrigin) {
  armor::Config config =
      armor::Config::parse(kMinimal + "[data]\nroot = \"x\"\n[run]\nseed = \"${data.root}\"\n", "exp.toml");
  config.interpolate();
  const std::string message = config_error([&] { armor::resolve_experiment(config, test_registry()); });
  EXPECT_TRUE(contains(message, "interpolation '${data.root}' at exp.toml:")) << message;
  EXPECT_TRUE(contains(message, "run.seed must be an integer")) << message;
}

TEST(ExistenceRuleTest, SettingAKeyTheConfigLacksNeedsAPlus) {
  TempDir dir;
  const std::string experiment = dir.write("exp.toml", kMinimal);
  const armor::KeyDeclared declared = [](const armor::Config& config, const std::string& key) {
    return armor::is_declared_key(config, test_registry(), key);
  };
  // Declared by the model plugin: exists with its default.
  EXPECT_NO_THROW(armor::Config::compose(experiment, {"model.num_experts=8"}, declared));
  const std::string message =
      config_error([&] { armor::Config::compose(experiment, {"model.num_expert=8"}, declared); });
  EXPECT_TRUE(contains(message, "key model.num_expert is not in the config")) << message;
  EXPECT_TRUE(contains(message, "use +model.num_expert=8 to add it")) << message;
  // A new evaluation attack is a new table: it takes a `+`; once there, its plugin's keys exist.
  const std::string table =
      config_error([&] { armor::Config::compose(experiment, {"eval.attacks.x.steps=3"}, declared); });
  EXPECT_TRUE(contains(table, "use +eval.attacks.x.steps=3 to add it")) << table;
  EXPECT_NO_THROW(armor::Config::compose(experiment, {"+eval.attacks.x.steps=3", "eval.attacks.x.eps=0.2"}, declared));
}

TEST(ExistenceRuleTest, DeclaredKeysFollowTheChosenPlugin) {
  const armor::Config config = armor::Config::parse(kMinimal + "[attack]\nname = \"fgsm\"\n", "exp.toml");
  EXPECT_TRUE(armor::is_declared_key(config, test_registry(), "attack.eps"));
  EXPECT_FALSE(armor::is_declared_key(config, test_registry(), "attack.steps"));  // pgd has it, fgsm not
  EXPECT_TRUE(armor::is_declared_key(config, test_registry(), "run.seed"));
  EXPECT_FALSE(armor::is_declared_key(config, test_registry(), "nosection.key"));
}

TEST(OverrideCaretTest, SyntaxErrorsPutACaretUnderTheColumn) {
  const std::string message = config_error([] { armor::parse_override("model..k=1"); });
  EXPECT_TRUE(contains(message, "column 7")) << message;
  EXPECT_TRUE(contains(message, "\n    model..k=1\n          ^")) << message;
  const std::string value = config_error([] { applied({"model.k=[1,2"}); });
  EXPECT_TRUE(contains(value, "\n    model.k=[1,2\n")) << value;
  EXPECT_TRUE(contains(value, "^")) << value;
}

TEST(MultirunFunctionsTest, ChoiceListsItsValues) {
  EXPECT_EQ(armor::expand_multirun({"a.x=choice(1,2,3)"}), (std::vector<Strings>{{"a.x=1"}, {"a.x=2"}, {"a.x=3"}}));
}

TEST(MultirunFunctionsTest, ZipMovesPairedDimensionsTogether) {
  const auto points = armor::expand_multirun({"a.b=zip(1,3)", "m.k=1,2", "a.c=zip(0.5,0.7)"});
  EXPECT_EQ(points, (std::vector<Strings>{{"a.b=1", "a.c=0.5", "m.k=1"},
                                          {"a.b=1", "a.c=0.5", "m.k=2"},
                                          {"a.b=3", "a.c=0.7", "m.k=1"},
                                          {"a.b=3", "a.c=0.7", "m.k=2"}}));
  EXPECT_EQ(armor::describe_multirun({"a.b=zip(1,3)", "m.k=1,2", "a.c=zip(0.5,0.7)"}),
            "zip(a.b=zip(1,3) | a.c=zip(0.5,0.7)) m.k=1,2");
}

TEST(MultirunFunctionsTest, ZipOfUnequalLengthsIsAnError) {
  const std::string message = config_error([] { armor::expand_multirun({"a.b=zip(1,3)", "a.c=zip(1,2,3)"}); });
  EXPECT_TRUE(contains(message, "same length")) << message;
}

TEST(RandomSearchTest, DrawsTheTrialsReproduciblyFromTheSeed) {
  const Strings overrides{"m.k=1,2,3", "t.lr=loguniform(0.001,0.1)", "t.n=randint(2,5)", "a.x=uniform(-1,1)"};
  const auto first = armor::sample_multirun(overrides, 20, 7);
  EXPECT_EQ(first, armor::sample_multirun(overrides, 20, 7));
  EXPECT_NE(first, armor::sample_multirun(overrides, 20, 8));
  ASSERT_EQ(first.size(), 20u);
  std::set<std::string> ks;
  for (const auto& point : first) {
    ASSERT_EQ(point.size(), 4u);
    ks.insert(point[0]);
    const double lr = std::stod(point[1].substr(5));
    EXPECT_GE(lr, 0.001);
    EXPECT_LT(lr, 0.1);
    const int n = std::stoi(point[2].substr(4));
    EXPECT_GE(n, 2);
    EXPECT_LE(n, 4);
    const double x = std::stod(point[3].substr(4));
    EXPECT_GE(x, -1.0);
    EXPECT_LT(x, 1.0);
  }
  EXPECT_EQ(ks.size(), 3u);  // 20 draws from 3 values reach all of them
}

TEST(RandomSearchTest, ZipDimensionsDrawOneCommonIndex) {
  for (const auto& point : armor::sample_multirun({"a.b=zip(1,2,3)", "a.c=zip(10,20,30)"}, 15, 1)) {
    EXPECT_EQ(point[1], "a.c=" + point[0].substr(4) + "0");
  }
}

TEST(RandomSearchTest, DistributionsNeedTheRandomSweeper) {
  const std::string message = config_error([] { armor::expand_multirun({"t.lr=uniform(0,1)"}); });
  EXPECT_TRUE(contains(message, "use it with --sweeper random")) << message;
  const std::string bounds = config_error([] { armor::sample_multirun({"t.lr=loguniform(0,1)"}, 3, 0); });
  EXPECT_TRUE(contains(bounds, "loguniform() needs low > 0")) << bounds;
}

TEST(MultirunFunctionsTest, FractionalRangesDoNotDrift) {
  EXPECT_EQ(armor::expand_multirun({"t.lr=range(0,0.3,0.1)"}),
            (std::vector<Strings>{{"t.lr=0"}, {"t.lr=0.1"}, {"t.lr=0.2"}}));
  EXPECT_EQ(armor::expand_multirun({"t.lr=range(0,100,0.1)"}).size(), 1000u);
}

TEST(InterpolationTest, AReferenceToATableIsAnError) {
  armor::Config config = armor::Config::parse("[a]\nx = \"${a}\"\n", "exp.toml");
  const std::string message = config_error([&] { config.interpolate(); });
  EXPECT_TRUE(contains(message, "${a} refers to a table")) << message;
}

}  // namespace
