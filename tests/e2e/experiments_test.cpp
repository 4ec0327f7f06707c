// Every shipped experiment runs. The test lists every .toml under experiments/ when it starts (a new
// file is covered without touching this test) and, for each experiment file:
//   1. composes it with `armor config` (exit 0; a sweep composes every one of its points),
//   2. runs it end to end at tiny scale on data in the file's own format, written here into a temp
//      folder (CIFAR-10/100 binary files, the tiny-imagenet-200 folder with JPEGs, IDX files), with
//      overrides computed from its composed config: 1 epoch of 2 batches, at most 2 steps for every
//      attack (training, evaluation, TRADES' inner one), narrow experts in output-level MoEs (their
//      networks otherwise as shipped; the layer-level ResNet-18s keep their width), a sweep cut to
//      one random point;
//   3. checks the run finished with its metrics (clean_acc, every <attack>_acc, the epoch curve, the
//      fixed-expert rows when eval.fixed_expert_layer is on) in runs.db.
// A config group option (<group>/<option>.toml, <group> a section name) is no experiment of its
// own: it is composed (`group=option`) into the quickstart (experiments/<group>/) or into an
// experiment beside its group folder, and run there the same way.
// Every command quoted in an experiment's header (`#   build/armor ...`) must be real: its options
// are in the subcommand's --help, and a quoted `armor run` composes with `armor config`.
// ARMOR_TEST_VERBOSE=1 prints each run's command and output (its timings). ARMOR_TEST_DEVICE=cuda
// runs them on the GPU (CTest's experiments_cuda_test; every run skips where armor finds no GPU).

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <stb_image_write.h>

#include "armor/config/config.h"
#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"
#include "cli_support.h"

namespace {
namespace fs = std::filesystem;
using namespace armor::testing;

constexpr int kTrainImages = 16;  // each tiny dataset has at least these: data.train_limit
constexpr int kTestImages = 8;    // and these: data.test_limit
constexpr int kBatchSize = 8;     // two training batches

const fs::path& source_dir() {
  static const fs::path dir(ARMOR_TEST_SOURCE_DIR);
  return dir;
}

// ---- Tiny datasets in the real formats --------------------------------------------------------

// Deterministic pseudo-random bytes (images with some variance for the models to fit).
std::string noise_bytes(std::size_t count, std::uint32_t seed) {
  std::string bytes(count, '\0');
  std::uint32_t state = seed * 2654435761u + 1;
  for (char& byte : bytes) {
    state = state * 1664525u + 1013904223u;
    byte = static_cast<char>(state >> 24);
  }
  return bytes;
}

void write_file(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string big_endian(std::uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16), static_cast<char>(value >> 8),
          static_cast<char>(value)};
}

// IDX (MNIST, Fashion-MNIST): magic 0x0000080N (N dimensions), the sizes, the bytes.
std::string idx_images(std::uint32_t count, std::uint32_t seed) {
  return big_endian(0x803) + big_endian(count) + big_endian(28) + big_endian(28) + noise_bytes(count * 28 * 28, seed);
}
std::string idx_labels(std::uint32_t count, std::uint32_t classes) {
  std::string labels;
  for (std::uint32_t i = 0; i < count; ++i) labels += static_cast<char>(i % classes);
  return big_endian(0x801) + big_endian(count) + labels;
}

void write_idx(const fs::path& dir) {
  write_file(dir / "train-images-idx3-ubyte", idx_images(kTrainImages, 1));
  write_file(dir / "train-labels-idx1-ubyte", idx_labels(kTrainImages, 10));
  write_file(dir / "t10k-images-idx3-ubyte", idx_images(kTestImages, 2));
  write_file(dir / "t10k-labels-idx1-ubyte", idx_labels(kTestImages, 10));
}

// CIFAR binary records: label byte(s), then 3072 bytes (R, G, B planes of 32 x 32).
std::string cifar_records(int count, int classes, bool two_labels, std::uint32_t seed) {
  std::string bytes;
  for (int i = 0; i < count; ++i) {
    if (two_labels) bytes += static_cast<char>(i % 20);  // coarse
    bytes += static_cast<char>((i * 7) % classes);
    bytes += noise_bytes(3072, seed + static_cast<std::uint32_t>(i));
  }
  return bytes;
}

void write_cifar10(const fs::path& dir) {
  for (int batch = 1; batch <= 5; ++batch) {  // 4 images each: 20 training images
    write_file(dir / ("data_batch_" + std::to_string(batch) + ".bin"), cifar_records(4, 10, false, 100 * batch));
  }
  write_file(dir / "test_batch.bin", cifar_records(kTestImages, 10, false, 7));
}

void write_cifar100(const fs::path& dir) {
  write_file(dir / "train.bin", cifar_records(kTrainImages, 100, true, 11));
  write_file(dir / "test.bin", cifar_records(kTestImages, 100, true, 13));
}

void write_jpeg(const fs::path& path, std::uint32_t seed) {
  fs::create_directories(path.parent_path());
  const std::string pixels = noise_bytes(64 * 64 * 3, seed);
  ASSERT_NE(stbi_write_jpg(path.c_str(), 64, 64, 3, pixels.data(), 90), 0) << path;
}

// tiny-imagenet-200: wnids.txt, train/<id>/images/*.JPEG, val/images + val/val_annotations.txt.
void write_tinyimagenet(const fs::path& root) {
  const std::vector<std::string> ids{"n01443537", "n01629819", "n01641577", "n01644900"};
  fs::create_directories(root / "val" / "images");
  std::ofstream wnids(root / "wnids.txt");
  std::ofstream annotations(root / "val" / "val_annotations.txt");
  const int train_per_class = kTrainImages / static_cast<int>(ids.size());
  const int val_per_class = kTestImages / static_cast<int>(ids.size());
  for (std::size_t c = 0; c < ids.size(); ++c) {
    wnids << ids[c] << "\n";
    for (int i = 0; i < train_per_class; ++i) {
      write_jpeg(root / "train" / ids[c] / "images" / (ids[c] + "_" + std::to_string(i) + ".JPEG"),
                 static_cast<std::uint32_t>(1000 + 10 * c + i));
    }
    for (int i = 0; i < val_per_class; ++i) {
      const std::string name = "val_" + std::to_string(c * 10 + i) + ".JPEG";
      write_jpeg(root / "val" / "images" / name, static_cast<std::uint32_t>(2000 + 10 * c + i));
      annotations << name << "\t" << ids[c] << "\t0\t0\t63\t63\n";
    }
  }
}

// The folder of each dataset's tiny copy, written once per test program.
class TinyData : public ::testing::Environment {
 public:
  static const fs::path& root() {
    static const fs::path dir = fs::temp_directory_path() / ("armor_experiments_data_" + std::to_string(::getpid()));
    return dir;
  }
  void SetUp() override {
    fs::remove_all(root());
    write_idx(root() / "idx");
    write_cifar10(root() / "cifar-10-batches-bin");
    write_cifar100(root() / "cifar-100-binary");
    write_tinyimagenet(root() / "tiny-imagenet-200");
  }
  void TearDown() override { fs::remove_all(root()); }

  // data.path for dataset plugin `name`; "" when the dataset reads no files (synthetic).
  static std::string path_for(const std::string& name) {
    if (name == "fashion_mnist" || name == "mnist") return (root() / "idx").string();
    if (name == "cifar10") return (root() / "cifar-10-batches-bin").string();
    if (name == "cifar100") return (root() / "cifar-100-binary").string();
    if (name == "tinyimagenet") return (root() / "tiny-imagenet-200").string();
    if (name == "synthetic") return "";
    ADD_FAILURE() << "no tiny data for dataset '" << name << "': add a writer to experiments_test.cpp";
    return "";
  }
};

[[maybe_unused]] ::testing::Environment* const kTinyData = ::testing::AddGlobalTestEnvironment(new TinyData);

// ---- The shipped experiments ------------------------------------------------------------------

// One case: an experiment file, or a config group option composed into an experiment that sees it.
struct Shipped {
  fs::path file;      // the .toml under experiments/
  std::string group;  // "" for an experiment; else the group, and `option` its option
  std::string option;
  fs::path host;  // a group option's experiment: the quickstart, or one beside the group folder

  std::string experiment() const { return group.empty() ? file.string() : host.string(); }
  std::string group_override() const { return group.empty() ? "" : group + "=" + option; }
  std::string name() const {
    std::string text = fs::relative(file, source_dir() / "experiments").replace_extension("").string();
    if (!group.empty()) text = "group_" + text;
    for (char& c : text) {
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    return text;
  }
};

void PrintTo(const Shipped& shipped, std::ostream* out) {
  *out << shipped.file.string() << " " << shipped.group_override();
}

// The sections of an experiment: a folder of that name holds options of a config group.
bool is_group_folder(const fs::path& folder) {
  static const std::set<std::string> sections{"run", "data", "model", "gate", "balancing", "attack", "trainer", "eval"};
  return sections.count(folder.filename().string()) > 0;
}

// A group option is found from experiments in the group folder's parent and below: the quickstart
// for experiments/<group>/, else the first experiment file in that parent folder.
fs::path host_of_group(const fs::path& group_folder) {
  const fs::path parent = group_folder.parent_path();
  if (fs::equivalent(parent, source_dir() / "experiments")) return quickstart();
  std::vector<fs::path> beside;
  for (const auto& entry : fs::directory_iterator(parent)) {
    if (entry.is_regular_file() && entry.path().extension() == ".toml") beside.push_back(entry.path());
  }
  std::sort(beside.begin(), beside.end());
  return beside.empty() ? fs::path(quickstart()) : beside.front();
}

std::vector<Shipped> shipped_experiments() {
  std::vector<Shipped> all;
  for (const auto& entry : fs::recursive_directory_iterator(source_dir() / "experiments")) {
    if (!entry.is_regular_file() || entry.path().extension() != ".toml") continue;
    const fs::path folder = entry.path().parent_path();
    if (is_group_folder(folder)) {
      all.push_back({entry.path(), folder.filename().string(), entry.path().stem().string(), host_of_group(folder)});
    } else {
      all.push_back({entry.path(), "", "", {}});
    }
  }
  std::sort(all.begin(), all.end(), [](const Shipped& a, const Shipped& b) { return a.file < b.file; });
  return all;
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string join(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& word : words) text += " " + shell_quote(word);
  return text;
}

// What `armor config` printed: the resolved config (of a sweep's first run) and whether it is a sweep.
struct Composed {
  armor::Config config;
  bool sweep = false;
};

Composed parse_config_output(const std::string& output, const std::string& source) {
  static const std::string sweep_header = "# the config of run 0 of the sweep";
  std::string text = output;
  const bool sweep = text.rfind(sweep_header, 0) == 0;
  if (sweep) {
    text = text.substr(text.find('\n') + 1);
    text = text.substr(0, text.find("\nsweep: "));
  }
  return {armor::Config::parse(text, source), sweep};
}

const toml::table* table_at(const toml::table& root, const std::string& key) {
  const toml::node* node = root.get(key);
  return node != nullptr ? node->as_table() : nullptr;
}

// Overrides that cut an attack's (or a trainer's inner attack's) work: at most 2 steps per
// restart and target, 1 restart, 2 targets, 10 queries.
void cut_attack_work(const toml::table& table, const std::string& prefix, std::vector<std::string>& overrides) {
  const auto cap = [&](const char* key, std::int64_t most) {
    const toml::node* node = table.get(key);
    if (node != nullptr && node->is_integer() && node->as_integer()->get() > most) {
      overrides.push_back(prefix + key + "=" + std::to_string(most));
    }
  };
  for (const char* key : {"steps", "apgd_steps", "fab_steps"}) cap(key, 2);
  for (const char* key : {"queries", "square_queries"}) cap(key, 10);
  cap("restarts", 1);
  cap("target_classes", 2);
  cap("replays", 2);
}

// The device of the tiny runs: ARMOR_TEST_DEVICE, else the CPU.
std::string test_device() {
  const char* device = std::getenv("ARMOR_TEST_DEVICE");
  return device != nullptr && *device != '\0' ? device : "cpu";
}

// What armor says when run.device asks for a GPU it cannot use (run_executor.cpp); once seen, the
// remaining runs skip at once.
constexpr const char* kNoGpu = "asks for CUDA, but this LibTorch build has no CUDA or no GPU is visible";
bool& no_gpu_seen() {
  static bool seen = false;
  return seen;
}

// The overrides that make the composed experiment a tiny run on the tiny data.
std::vector<std::string> tiny_overrides(const toml::table& config) {
  std::vector<std::string> overrides{
      "run.device=" + test_device(), "trainer.epochs=1", "trainer.batch_size=" + std::to_string(kBatchSize),
      "data.train_limit=" + std::to_string(kTrainImages), "data.test_limit=" + std::to_string(kTestImages)};
  const toml::table* data = table_at(config, "data");
  const std::string dataset = data != nullptr ? data->get("name")->value_or(std::string()) : std::string();
  const std::string path = TinyData::path_for(dataset);
  if (!path.empty()) overrides.push_back("data.path=" + path);
  if (data != nullptr && data->get("validation") != nullptr && data->get("validation")->value_or(0.0) > 0) {
    overrides.push_back("data.validation=4");  // a count that leaves training images
  }
  // Output-level MoEs run E whole networks per image, a dual model 2E: their experts get narrow
  // (ResNet: an eighth of the width; ViT: 2 blocks of width 32), the architecture otherwise as shipped.
  if (const toml::table* model = table_at(config, "model")) {
    const std::string expert = model->get("expert") != nullptr ? model->get("expert")->value_or(std::string()) : "";
    std::string params =
        model->get("expert_params") != nullptr ? model->get("expert_params")->value_or(std::string()) : "";
    const auto add = [&](const std::string& key, const std::string& value) {
      if (params.find(key) == std::string::npos) params += (params.empty() ? "" : ", ") + key + " = " + value;
    };
    if (expert == "resnet") add("width_multiplier", "0.125");
    if (expert == "vit") {
      add("embed_dim", "32");
      add("depth", "2");
      add("heads", "2");
    }
    if (!expert.empty()) overrides.push_back("model.expert_params=\"" + params + "\"");
  }
  if (const toml::table* attack = table_at(config, "attack")) cut_attack_work(*attack, "attack.", overrides);
  if (const toml::table* trainer = table_at(config, "trainer")) cut_attack_work(*trainer, "trainer.", overrides);
  if (const toml::table* eval = table_at(config, "eval")) {
    if (const toml::table* attacks = table_at(*eval, "attacks")) {
      for (const auto& [metric, node] : *attacks) {
        if (const toml::table* attack = node.as_table()) {
          cut_attack_work(*attack, "eval.attacks." + std::string(metric.str()) + ".", overrides);
        }
      }
    }
  }
  return overrides;
}

// The metrics every finished run of this config must have.
std::vector<std::string> expected_metrics(const toml::table& config) {
  std::vector<std::string> metrics{"clean_acc"};
  if (const toml::table* eval = table_at(config, "eval")) {
    if (const toml::table* attacks = table_at(*eval, "attacks")) {
      for (const auto& [metric, node] : *attacks) metrics.push_back(std::string(metric.str()) + "_acc");
    }
  }
  return metrics;
}

class ExperimentsTest : public ::testing::TestWithParam<Shipped> {
 protected:
  void SetUp() override {
    dir_ = TinyData::root() / ("run_" + GetParam().name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string db() const { return (dir_ / "runs.db").string(); }
  std::string query(const std::string& sql) const {
    const armor::ResultsReader store(db(), armor::ResultsReader::Mode::read_only);
    const armor::QueryResult result = store.query(sql);
    return result.rows.empty() ? "" : result.rows[0][0];
  }

  fs::path dir_;
};

TEST_P(ExperimentsTest, ComposesAndRunsEndToEndAtTinyScale) {
  const Shipped& shipped = GetParam();
  std::vector<std::string> base;
  if (!shipped.group.empty()) base.push_back(shipped.group_override());
  // 1. Composed as shipped (every point of its sweep), device included: `armor config` prints a file
  // meant for a GPU on a machine without one too.
  const std::string config_command = armor_program() + " config " + shell_quote(shipped.experiment()) + join(base);
  const Result composed_output = run_command_line(config_command + " 2>/dev/null");
  ASSERT_EQ(composed_output.exit_code, 0) << config_command << "\n"
                                          << run_command_line(config_command + " 2>&1").output;
  const Composed composed = parse_config_output(composed_output.output, shipped.file.string());
  const toml::table& config = composed.config.table();

  // 2. Run at tiny scale on the tiny data; a sweep runs one point, drawn by its random sweeper.
  std::vector<std::string> overrides = tiny_overrides(config);
  if (!shipped.group.empty()) overrides.insert(overrides.begin(), shipped.group_override());
  std::string command = "run " + shell_quote(shipped.experiment()) + join(overrides) + " --db " + shell_quote(db()) +
                        " --outputs " + shell_quote((dir_ / "outputs").string());
  if (composed.sweep) command += " --sweeper random --trials 1";
  if (no_gpu_seen()) GTEST_SKIP() << "run.device=" << test_device() << ": no GPU visible to armor's LibTorch";
  const Result run = run_armor(command);
  if (std::getenv("ARMOR_TEST_VERBOSE") != nullptr) std::cout << "armor " << command << "\n" << run.output;
  if (test_device() != "cpu" && run.exit_code != 0 && contains(run.output, kNoGpu)) {
    no_gpu_seen() = true;
    GTEST_SKIP() << "run.device=" << test_device() << ": no GPU visible to armor's LibTorch";
  }
  ASSERT_EQ(run.exit_code, 0) << "armor " << command << "\n" << run.output;

  // 3. A finished run with its metrics in runs.db.
  ASSERT_EQ(query("SELECT count(*) FROM runs"), "1") << run.output;
  EXPECT_EQ(query("SELECT status FROM runs"), "finished") << run.output;
  for (const std::string& metric : expected_metrics(config)) {
    EXPECT_EQ(query("SELECT count(*) FROM metrics WHERE key = '" + metric + "' AND value IS NOT NULL"), "1")
        << metric << " missing\n"
        << run.output;
  }
  EXPECT_EQ(query("SELECT count(*) FROM epoch_metrics WHERE epoch = 1 AND key = 'train_loss'"), "1") << run.output;
  const toml::table* eval = table_at(config, "eval");
  const std::string fixed_layer =
      eval != nullptr ? eval->get("fixed_expert_layer")->value_or(std::string()) : std::string();
  if (!fixed_layer.empty()) {
    EXPECT_NE(query("SELECT count(*) FROM expert_metrics WHERE layer = '" + fixed_layer + "' AND key LIKE 'fixed_%'"),
              "0")
        << run.output;
  }
}

INSTANTIATE_TEST_SUITE_P(Shipped, ExperimentsTest, ::testing::ValuesIn(shipped_experiments()),
                         [](const ::testing::TestParamInfo<Shipped>& info) { return info.param.name(); });

// ---- Commands quoted in the experiments' headers ----------------------------------------------

// The words of a shell command line (quotes and backslash escapes as the shell reads them).
std::vector<std::string> shell_words(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote == '"' && i + 1 < line.size()) {
        word += line[++i];
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(word);
  return words;
}

TEST(ExperimentHeadersTest, EveryQuotedCommandIsReal) {
  static const std::regex quoted(R"(^#\s+build/armor\s+(.*)$)");
  static const std::set<std::string> with_subcommands{"db", "sweep", "plugins"};
  int commands = 0;
  for (const Shipped& shipped : shipped_experiments()) {
    std::ifstream file(shipped.file);
    std::string line;
    while (std::getline(file, line)) {
      std::smatch match;
      if (!std::regex_match(line, match, quoted)) continue;
      ++commands;
      const std::string where = shipped.file.string() + ": " + line;
      const std::vector<std::string> words = shell_words(match[1].str());
      ASSERT_FALSE(words.empty()) << where;
      std::string subcommand = words[0];
      if (with_subcommands.count(subcommand) > 0 && words.size() > 1) subcommand += " " + words[1];
      const Result help = run_armor(subcommand + " --help");
      ASSERT_EQ(help.exit_code, 0) << where << "\n" << help.output;
      bool config_knows_all = true;
      static const Result config_help = run_armor("config --help");
      for (const std::string& word : words) {
        if (word.rfind("--", 0) != 0) continue;
        const std::string option = word.substr(0, word.find('='));
        EXPECT_TRUE(contains(help.output, option + " "))
            << where << ": armor " << subcommand << " has no option " << option;
        config_knows_all = config_knows_all && contains(config_help.output, option + " ");
      }
      if (words[0] == "run" && config_knows_all) {
        // From the repository root, as the header writes it; composed on the CPU, data not read.
        std::vector<std::string> rest(words.begin() + 1, words.end());
        rest.push_back("run.device=cpu");
        const Result composed = run_command_line("cd " + shell_quote(source_dir().string()) + " && " + armor_program() +
                                                 " config" + join(rest) + " 2>&1");
        EXPECT_EQ(composed.exit_code, 0) << where << "\n" << composed.output;
      }
    }
  }
  EXPECT_GT(commands, 5) << "the headers quote commands; the pattern should find them";
}

// eval.fixed_expert_attacks (cifar100-resnet18/base.toml) must name [eval.attacks.<metric>] tables.
TEST(ExperimentKeysTest, FixedExpertAttacksNameEvalAttackTables) {
  const Result good = run_armor("config " + quickstart() + " eval.fixed_expert_attacks=pgd20");
  EXPECT_EQ(good.exit_code, 0) << good.output;
  const Result bad = run_armor("config " + quickstart() + " eval.fixed_expert_attacks=pgd20,pgd21");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_TRUE(contains(bad.output, "eval.fixed_expert_attacks")) << bad.output;
  EXPECT_TRUE(contains(bad.output, "'pgd21' is not one (the tables: pgd20)")) << bad.output;
}

TEST(ExperimentListTest, CoversExperimentsAndGroupOptions) {
  const std::vector<Shipped> all = shipped_experiments();
  const auto has = [&](const std::string& name) {
    return std::any_of(all.begin(), all.end(), [&](const Shipped& s) { return s.name() == name; });
  };
  EXPECT_TRUE(has("quickstart"));
  EXPECT_TRUE(has("cifar100_resnet18_at_blockmoe"));
  EXPECT_TRUE(has("group_model_resnet18"));
  EXPECT_TRUE(has("group_trainer_standard"));
}

}  // namespace
