// The mnist / fashion_mnist (IDX) and tinyimagenet (JPEG folder) datasets read small files written
// in their real formats; truncated and mismatched files are DataErrors naming the file. Also the
// validation split carved from training data.

#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <stb_image_write.h>
#include <torch/torch.h>

#include "armor/data/builtin_datasets.h"
#include "armor/data/dataset.h"
#include "armor/data/tinyimagenet.h"
#include "armor/error.h"
#include "armor/plugin/registry.h"

namespace {

namespace fs = std::filesystem;

class LoadersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("armor_loaders_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    armor::register_builtin_datasets(registry_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // An IDX file of unsigned bytes: magic 0x00000803 (images) or 0x00000801 (labels), big-endian dims.
  static std::string idx_bytes(const std::vector<std::int32_t>& dims, std::uint8_t first_value) {
    std::string bytes{0, 0, 8, static_cast<char>(dims.size())};
    std::size_t total = 1;
    for (const std::int32_t d : dims) {
      for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>((d >> shift) & 0xff));
      total *= static_cast<std::size_t>(d);
    }
    for (std::size_t i = 0; i < total; ++i) bytes.push_back(static_cast<char>((first_value + i) % 10));
    return bytes;
  }
  void write_plain(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
  }
  void write_gzip(const std::string& name, const std::string& bytes) {
    gzFile file = gzopen((dir_ / name).c_str(), "wb");
    gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(file);
  }
  void write_idx_dataset(std::int32_t train, std::int32_t test) {
    write_gzip("train-images-idx3-ubyte.gz", idx_bytes({train, 28, 28}, 0));
    write_gzip("train-labels-idx1-ubyte.gz", idx_bytes({train}, 3));
    write_plain("t10k-images-idx3-ubyte", idx_bytes({test, 28, 28}, 0));
    write_plain("t10k-labels-idx1-ubyte", idx_bytes({test}, 5));
  }
  std::shared_ptr<armor::DatasetSplits> load(const std::string& name, const fs::path& path) {
    armor::Params params("data");
    params.set("path", path.string(), "test");
    return registry_.dataset(name)(params);
  }
  static void expect_data_error_naming(const std::function<void()>& action, const std::string& name) {
    try {
      action();
      ADD_FAILURE() << "expected a DataError naming " << name;
    } catch (const armor::DataError& error) {
      EXPECT_NE(std::string(error.what()).find(name), std::string::npos) << error.what();
    }
  }

  // A tiny-imagenet-200 layout: classes `ids`, `per_class` training JPEGs each (solid grey value
  // 40 x class + 10 x image), and one validation image per class listed in val_annotations.txt.
  fs::path write_tinyimagenet(const std::vector<std::string>& ids, int per_class, int side = 64) {
    const fs::path root = dir_ / "tiny-imagenet-200";
    fs::create_directories(root / "val" / "images");
    std::ofstream wnids(root / "wnids.txt");
    std::ofstream annotations(root / "val" / "val_annotations.txt");
    for (std::size_t c = 0; c < ids.size(); ++c) {
      wnids << ids[c] << "\n";
      fs::create_directories(root / "train" / ids[c] / "images");
      for (int i = 0; i < per_class; ++i) {
        write_jpeg(root / "train" / ids[c] / "images" / (ids[c] + "_" + std::to_string(i) + ".JPEG"),
                   static_cast<int>(40 * c + 10 * static_cast<std::size_t>(i)), side);
      }
      const std::string val = "val_" + std::to_string(c) + ".JPEG";
      write_jpeg(root / "val" / "images" / val, static_cast<int>(40 * c), side);
      annotations << val << "\t" << ids[c] << "\t0\t0\t63\t63\n";
    }
    return root;
  }
  static void write_jpeg(const fs::path& path, int grey, int side) {
    std::vector<std::uint8_t> pixels(static_cast<std::size_t>(side * side * 3), static_cast<std::uint8_t>(grey));
    ASSERT_NE(stbi_write_jpg(path.c_str(), side, side, 3, pixels.data(), 95), 0) << path;
  }

  fs::path dir_;
  armor::Registry registry_;
};

TEST_F(LoadersTest, MnistReadsGzippedAndPlainIdxFiles) {
  write_idx_dataset(6, 4);
  const auto splits = load("mnist", dir_);
  EXPECT_EQ(splits->train.images.sizes(), (std::vector<std::int64_t>{6, 1, 28, 28}));
  EXPECT_EQ(splits->test.images.sizes(), (std::vector<std::int64_t>{4, 1, 28, 28}));
  EXPECT_EQ(splits->train.labels[0].item<std::int64_t>(), 3);
  EXPECT_EQ(splits->test.labels[1].item<std::int64_t>(), 6);
  EXPECT_EQ(splits->train.images[0][0][0][1].item<std::uint8_t>(), 1);
  EXPECT_EQ(splits->info.num_classes, 10);
}

TEST_F(LoadersTest, FashionMnistTakesThePathItIsGiven) {
  write_idx_dataset(3, 2);
  EXPECT_EQ(load("fashion_mnist", dir_)->train.size(), 3);
}

TEST_F(LoadersTest, TruncatedMismatchedAndMissingIdxFilesNameTheFile) {
  write_idx_dataset(6, 4);
  const std::string images = idx_bytes({4, 28, 28}, 0);
  write_plain("t10k-images-idx3-ubyte", images.substr(0, images.size() - 100));
  expect_data_error_naming([&] { load("mnist", dir_); }, "t10k-images-idx3-ubyte");
  write_plain("t10k-images-idx3-ubyte", images);
  write_plain("t10k-labels-idx1-ubyte", idx_bytes({5}, 0));
  expect_data_error_naming([&] { load("mnist", dir_); }, "t10k-labels-idx1-ubyte");
  write_plain("t10k-labels-idx1-ubyte", "not an idx file");
  expect_data_error_naming([&] { load("mnist", dir_); }, "t10k-labels-idx1-ubyte");
  fs::remove(dir_ / "train-labels-idx1-ubyte.gz");
  expect_data_error_naming([&] { load("mnist", dir_); }, "train-labels-idx1-ubyte");
}

// A label at or above the class count is found when the file is read, naming the file, the label
// and its index, instead of as LibTorch's "Target 200 is out of bounds." inside training.
TEST_F(LoadersTest, LabelBeyondTheClassCountNamesTheFileTheLabelAndItsIndex) {
  write_idx_dataset(6, 4);
  std::string labels = idx_bytes({4}, 5);
  labels[8 + 2] = static_cast<char>(200);
  write_plain("t10k-labels-idx1-ubyte", labels);
  expect_data_error_naming([&] { load("mnist", dir_); },
                           "t10k-labels-idx1-ubyte: label 200 at index 2 is out of range for 10 classes");
}

// The shape probe reads split sizes from the IDX headers alone: planning checks [data] limits with
// it before a run starts. A missing folder is a ConfigError naming data.path, as the loader's.
TEST_F(LoadersTest, IdxShapeProbeReadsTheSplitSizesFromTheHeaders) {
  write_idx_dataset(6, 4);
  armor::Params params("data");
  params.set("path", dir_.string(), "test");
  const armor::DatasetShapeProbe* probe = registry_.dataset_shape("mnist");
  ASSERT_NE(probe, nullptr);
  const armor::DatasetShape shape = (*probe)(params);
  EXPECT_EQ(shape.train_size, 6);
  EXPECT_EQ(shape.test_size, 4);
  EXPECT_EQ(shape.info.num_classes, 10);
  EXPECT_EQ(shape.info.height, 28);
  write_plain("t10k-labels-idx1-ubyte", idx_bytes({5}, 0));  // counts differ
  expect_data_error_naming([&] { (*probe)(params); }, "t10k-labels-idx1-ubyte");
  params.set("path", (dir_ / "missing").string(), "exp.toml:3:8");
  EXPECT_THROW((*probe)(params), armor::ConfigError);
}

TEST_F(LoadersTest, TinyImagenetShapeProbeCountsFilesWithoutDecodingThem) {
  const fs::path root = write_tinyimagenet({"n02", "n01"}, 3);
  armor::Params params("data");
  params.set("path", root.string(), "test");
  const armor::DatasetShape shape = (*registry_.dataset_shape("tinyimagenet"))(params);
  EXPECT_EQ(shape.info.num_classes, 2);
  EXPECT_EQ(shape.train_size, 6);
  EXPECT_EQ(shape.test_size, 2);
}

// [data] train_limit / test_limit reach the IDX reader, which reads only that many items: the
// first ones, and a file cut short after them still loads (before them it is still an error).
TEST_F(LoadersTest, IdxLimitsReadOnlyTheFirstImages) {
  write_idx_dataset(6, 4);
  armor::Params params("data");
  params.set("path", dir_.string(), "test");
  params.set("train_limit", std::int64_t{2}, "test");
  params.set("test_limit", std::int64_t{9}, "test");  // above the file's 4: all of them
  const auto full = load("mnist", dir_);
  const auto limited = registry_.dataset("mnist")(params);
  ASSERT_EQ(limited->train.size(), 2);
  EXPECT_TRUE(torch::equal(limited->train.images, full->train.images.narrow(0, 0, 2)));
  EXPECT_TRUE(torch::equal(limited->train.labels, full->train.labels.narrow(0, 0, 2)));
  EXPECT_EQ(limited->test.size(), 4);

  const std::string images = idx_bytes({6, 28, 28}, 0);
  write_gzip("train-images-idx3-ubyte.gz", images.substr(0, images.size() - 28 * 28));  // the 6th image gone
  EXPECT_EQ(registry_.dataset("mnist")(params)->train.size(), 2);
  params.set("train_limit", std::int64_t{6}, "test");
  expect_data_error_naming([&] { registry_.dataset("mnist")(params); }, "train-images-idx3-ubyte");
  write_gzip("train-images-idx3-ubyte.gz", images);
  write_gzip("train-labels-idx1-ubyte.gz", idx_bytes({7}, 3));  // counts differ: an error at any limit
  params.set("train_limit", std::int64_t{2}, "test");
  expect_data_error_naming([&] { registry_.dataset("mnist")(params); }, "train-labels-idx1-ubyte");
}

TEST_F(LoadersTest, TinyImagenetReadsTheOfficialLayoutWithSortedClassIds) {
  // wnids.txt order is not the class order: ids are numbered sorted, as torchvision does.
  const fs::path root = write_tinyimagenet({"n02", "n01"}, 3);
  const auto splits = load("tinyimagenet", root);
  EXPECT_EQ(splits->info.num_classes, 2);
  EXPECT_EQ(splits->train.images.sizes(), (std::vector<std::int64_t>{6, 3, 64, 64}));
  EXPECT_EQ(splits->test.images.sizes(), (std::vector<std::int64_t>{2, 3, 64, 64}));
  // n01 (written second, grey 40 + 10 i) is class 0 and comes first.
  EXPECT_TRUE(torch::equal(splits->train.labels, torch::tensor({0, 0, 0, 1, 1, 1}, torch::kInt64)));
  EXPECT_NEAR(splits->train.images[1].to(torch::kFloat32).mean().item<double>(), 50.0, 2.0);
  EXPECT_NEAR(splits->train.images[3].to(torch::kFloat32).mean().item<double>(), 0.0, 2.0);
  // val_annotations.txt labels the validation images: val_0 is n02 (class 1), val_1 is n01.
  EXPECT_TRUE(torch::equal(splits->test.labels, torch::tensor({1, 0}, torch::kInt64)));
}

TEST_F(LoadersTest, TinyImagenetErrorsNameTheBadFile) {
  const fs::path root = write_tinyimagenet({"n01", "n02"}, 2);
  const fs::path image = root / "train" / "n02" / "images" / "n02_1.JPEG";
  const auto size = fs::file_size(image);
  fs::resize_file(image, size / 3);  // truncated
  expect_data_error_naming([&] { load("tinyimagenet", root); }, "n02_1.JPEG");
  write_jpeg(image, 10, 32);  // another size
  expect_data_error_naming([&] { load("tinyimagenet", root); }, "n02_1.JPEG");
  write_jpeg(image, 10, 64);
  std::ofstream(root / "val" / "val_annotations.txt", std::ios::app) << "val_9.JPEG\tn99\t0\t0\t1\t1\n";
  expect_data_error_naming([&] { load("tinyimagenet", root); }, "val_annotations.txt");
  fs::remove(root / "wnids.txt");
  expect_data_error_naming([&] { load("tinyimagenet", root); }, "wnids.txt");
}

TEST_F(LoadersTest, ValidationSplitIsDisjointSeededAndSizedByCountOrFraction) {
  const torch::Tensor images = torch::arange(100, torch::kUInt8).view({100, 1, 1, 1});
  const armor::LabelledImages train{images, torch::arange(100, torch::kInt64)};
  EXPECT_EQ(armor::validation_count(0.0, 100), 0);
  EXPECT_EQ(armor::validation_count(0.2, 100), 20);
  EXPECT_EQ(armor::validation_count(30.0, 100), 30);
  EXPECT_THROW(armor::validation_count(100.0, 100), armor::ConfigError);
  EXPECT_THROW(armor::validation_count(2.5, 100), armor::ConfigError);

  const armor::TrainValidation split = armor::split_validation(train, 20, 5);
  EXPECT_EQ(split.train.size(), 80);
  EXPECT_EQ(split.validation.size(), 20);
  const torch::Tensor all = torch::cat({split.train.labels, split.validation.labels});
  EXPECT_TRUE(torch::equal(std::get<0>(all.sort()), torch::arange(100, torch::kInt64))) << "every image exactly once";
  EXPECT_TRUE(torch::equal(split.validation.labels, armor::split_validation(train, 20, 5).validation.labels));
  EXPECT_FALSE(torch::equal(split.validation.labels, armor::split_validation(train, 20, 6).validation.labels));
  EXPECT_TRUE(torch::equal(split.validation.images.view({-1}).to(torch::kInt64), split.validation.labels));
}

}  // namespace
