// The cifar10 and cifar100 datasets read tiny files written in the real binary format.

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/data/builtin_datasets.h"
#include "armor/data/dataset.h"
#include "armor/error.h"
#include "armor/plugin/registry.h"

namespace {

namespace fs = std::filesystem;

class CifarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("armor_cifar_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    armor::register_builtin_datasets(registry_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Records of `labels` then 3072 pixels; pixel byte i of record r is (r * 7 + i) % 256.
  void write(const std::string& name, const std::vector<std::vector<std::uint8_t>>& labels, std::size_t cut = 0) {
    std::string bytes;
    for (std::size_t r = 0; r < labels.size(); ++r) {
      for (const std::uint8_t label : labels[r]) bytes.push_back(static_cast<char>(label));
      for (int i = 0; i < 3072; ++i) bytes.push_back(static_cast<char>((r * 7 + static_cast<std::size_t>(i)) % 256));
    }
    std::ofstream(dir_ / name, std::ios::binary) << bytes.substr(0, bytes.size() - cut);
  }
  std::shared_ptr<armor::DatasetSplits> load(const std::string& name, const std::string& labels = "") {
    armor::Params params("data");
    params.set("path", dir_.string(), "test");
    if (!labels.empty()) params.set("labels", labels, "test");
    return registry_.dataset(name)(params);
  }

  fs::path dir_;
  armor::Registry registry_;
};

TEST_F(CifarTest, Cifar10ReadsTheFiveTrainingBatchesAndTheTestBatch) {
  for (int i = 1; i <= 5; ++i) write("data_batch_" + std::to_string(i) + ".bin", {{static_cast<std::uint8_t>(i)}, {9}});
  write("test_batch.bin", {{3}, {4}, {5}});
  const auto data = load("cifar10");
  EXPECT_EQ(data->info.num_classes, 10);
  EXPECT_EQ(data->train.images.sizes(), (std::vector<std::int64_t>{10, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(data->train.labels, torch::tensor({1, 9, 2, 9, 3, 9, 4, 9, 5, 9}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(data->test.labels, torch::tensor({3, 4, 5}, torch::kInt64)));
  // Channel-major pixels: record 1, channel 1, row 0, column 2 is byte 1024 + 2 of the record.
  EXPECT_EQ(data->test.images[1][1][0][2].item<int>(), (1 * 7 + 1024 + 2) % 256);
  EXPECT_EQ(data->test.images.dtype(), torch::kUInt8);
}

TEST_F(CifarTest, Cifar100ReadsFineOrCoarseLabels) {
  write("train.bin", {{1, 42}, {19, 99}});
  write("test.bin", {{0, 7}});
  const auto fine = load("cifar100", "fine");
  EXPECT_EQ(fine->info.num_classes, 100);
  EXPECT_TRUE(torch::equal(fine->train.labels, torch::tensor({42, 99}, torch::kInt64)));
  const auto coarse = load("cifar100", "coarse");
  EXPECT_EQ(coarse->info.num_classes, 20);
  EXPECT_TRUE(torch::equal(coarse->train.labels, torch::tensor({1, 19}, torch::kInt64)));
  EXPECT_EQ(coarse->test.images[0][0][0][5].item<int>(), 5);
}

TEST_F(CifarTest, MissingAndTruncatedFilesAreDataErrorsNamingTheFile) {
  write("train.bin", {{1, 42}, {19, 99}}, /*cut=*/100);
  write("test.bin", {{0, 7}});
  try {
    load("cifar100", "fine");
    FAIL() << "a truncated file must be refused";
  } catch (const armor::DataError& error) {
    EXPECT_NE(std::string(error.what()).find("train.bin: 6048 bytes is not a whole number of 3074-byte records"),
              std::string::npos)
        << error.what();
  }
  try {
    load("cifar10");
    FAIL() << "missing files must be refused";
  } catch (const armor::DataError& error) {
    EXPECT_NE(std::string(error.what()).find("data_batch_1.bin: file not found"), std::string::npos) << error.what();
  }
  write("train.bin", {{1, 142}});  // a fine label out of range: not CIFAR-100
  EXPECT_THROW(load("cifar100", "fine"), armor::DataError);
}

}  // namespace
