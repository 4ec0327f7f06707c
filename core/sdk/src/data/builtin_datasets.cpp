#include "armor/data/builtin_datasets.h"

#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "armor/data/dataset.h"
#include "armor/data/tinyimagenet.h"
#include "armor/error.h"
#include "armor/plugin/registry.h"

namespace armor {
namespace fs = std::filesystem;

namespace {

// "<dir>/<stem>.gz" when present, else "<dir>/<stem>" (the error then names the plain file).
std::string idx_file(const std::string& dir, const std::string& stem) {
  const fs::path gz = fs::path(dir) / (stem + ".gz");
  return fs::exists(gz) ? gz.string() : (fs::path(dir) / stem).string();
}

// [data] train_limit / test_limit when the dataset gets the whole [data] section (0 = all).
std::int64_t limit_of(const Params& params, const std::string& key) {
  return params.has(key) ? params.integer(key) : 0;
}

const std::string& idx_folder(const Params& params) {
  const std::string& dir = params.string("path");
  if (dir.empty()) params.fail("path", "must name the folder holding the IDX files");
  if (!fs::is_directory(dir)) params.fail("path", "is not a folder");
  return dir;
}

std::shared_ptr<DatasetSplits> load_idx_folder(const Params& params, DatasetInfo info) {
  const std::string& dir = idx_folder(params);
  auto splits = std::make_shared<DatasetSplits>();
  splits->info = std::move(info);
  const std::int64_t classes = splits->info.num_classes;
  // The run takes only the first [data] train_limit / test_limit images: read no more.
  splits->train = read_idx_pair(idx_file(dir, "train-images-idx3-ubyte"), idx_file(dir, "train-labels-idx1-ubyte"),
                                limit_of(params, "train_limit"), classes);
  splits->test = read_idx_pair(idx_file(dir, "t10k-images-idx3-ubyte"), idx_file(dir, "t10k-labels-idx1-ubyte"),
                               limit_of(params, "test_limit"), classes);
  return splits;
}

// The split sizes from the four IDX headers (16 bytes read of each file).
DatasetShape idx_folder_shape(const Params& params, DatasetInfo info) {
  const std::string& dir = idx_folder(params);
  return {std::move(info),
          idx_pair_items(idx_file(dir, "train-images-idx3-ubyte"), idx_file(dir, "train-labels-idx1-ubyte")),
          idx_pair_items(idx_file(dir, "t10k-images-idx3-ubyte"), idx_file(dir, "t10k-labels-idx1-ubyte"))};
}

ParamSchema idx_params(const std::string& default_path) {
  return ParamSchema().string("path", default_path,
                              "Folder with the four IDX files (train/t10k images/labels, .gz or not)");
}

constexpr std::int64_t kCifarPixels = 3 * 32 * 32;

// The records of one CIFAR binary file, from its size: DataError unless a whole number of records.
std::int64_t cifar_records(const std::string& path, std::int64_t label_bytes) {
  const std::int64_t record = label_bytes + kCifarPixels;
  if (!fs::exists(path)) throw DataError(path + ": file not found (expected the CIFAR binary version)");
  const auto bytes = static_cast<std::int64_t>(fs::file_size(path));
  if (bytes == 0 || bytes % record != 0) {
    throw DataError(path + ": " + std::to_string(bytes) + " bytes is not a whole number of " + std::to_string(record) +
                    "-byte records (truncated, or not a CIFAR binary file?)");
  }
  return bytes / record;
}

std::int64_t cifar_records(const std::vector<std::string>& paths, std::int64_t label_bytes) {
  std::int64_t records = 0;
  for (const std::string& path : paths) records += cifar_records(path, label_bytes);
  return records;
}

// The CIFAR binary version: records of `label_bytes` label bytes then 3x32x32 pixel bytes (CHW).
// Reads the files in order; label byte `label_index` of each record is the label.
LabelledImages read_cifar_files(const std::vector<std::string>& paths, std::int64_t label_bytes,
                                std::int64_t label_index, std::int64_t num_classes) {
  constexpr std::int64_t kPixels = kCifarPixels;
  const std::int64_t record = label_bytes + kPixels;
  std::vector<torch::Tensor> images, labels;
  for (const std::string& path : paths) {
    const std::int64_t records = cifar_records(path, label_bytes);
    torch::Tensor data = torch::empty({records, record}, torch::kUInt8);
    std::ifstream in(path, std::ios::binary);
    if (!in.read(reinterpret_cast<char*>(data.data_ptr<std::uint8_t>()), records * record))
      throw DataError(path + ": cannot read");
    torch::Tensor label = data.select(1, label_index).to(torch::kInt64);
    check_labels(label, num_classes, path + " (not a CIFAR-" + std::to_string(num_classes > 20 ? 100 : 10) + " file?)");
    images.push_back(data.narrow(1, label_bytes, kPixels).reshape({-1, 3, 32, 32}));
    labels.push_back(label);
  }
  return {torch::cat(images, 0), torch::cat(labels, 0)};
}

std::string cifar_folder(const Params& params) {
  const std::string& dir = params.string("path");
  if (dir.empty()) params.fail("path", "must name the folder holding the CIFAR binary files");
  if (!fs::is_directory(dir)) params.fail("path", "is not a folder");
  return dir;
}

DatasetInfo cifar10_info() { return {"cifar10", 3, 32, 32, 10, {0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616}}; }

std::vector<std::string> cifar10_train_files(const fs::path& dir) {
  std::vector<std::string> train;
  for (int i = 1; i <= 5; ++i) train.push_back((dir / ("data_batch_" + std::to_string(i) + ".bin")).string());
  return train;
}

std::shared_ptr<DatasetSplits> make_cifar10(const Params& params) {
  const fs::path dir = cifar_folder(params);
  auto splits = std::make_shared<DatasetSplits>();
  splits->info = cifar10_info();
  splits->train = read_cifar_files(cifar10_train_files(dir), 1, 0, 10);
  splits->test = read_cifar_files({(dir / "test_batch.bin").string()}, 1, 0, 10);
  return splits;
}

DatasetShape cifar10_shape(const Params& params) {
  const fs::path dir = cifar_folder(params);
  return {cifar10_info(), cifar_records(cifar10_train_files(dir), 1),
          cifar_records((dir / "test_batch.bin").string(), 1)};
}

DatasetInfo cifar100_info(const Params& params) {
  const std::int64_t classes = params.string("labels") == "coarse" ? 20 : 100;
  return {"cifar100", 3, 32, 32, classes, {0.5071, 0.4865, 0.4409}, {0.2673, 0.2564, 0.2762}};
}

std::shared_ptr<DatasetSplits> make_cifar100(const Params& params) {
  const fs::path dir = cifar_folder(params);
  const bool coarse = params.string("labels") == "coarse";
  auto splits = std::make_shared<DatasetSplits>();
  splits->info = cifar100_info(params);
  const std::int64_t classes = splits->info.num_classes;
  splits->train = read_cifar_files({(dir / "train.bin").string()}, 2, coarse ? 0 : 1, classes);
  splits->test = read_cifar_files({(dir / "test.bin").string()}, 2, coarse ? 0 : 1, classes);
  return splits;
}

DatasetShape cifar100_shape(const Params& params) {
  const fs::path dir = cifar_folder(params);
  return {cifar100_info(params), cifar_records((dir / "train.bin").string(), 2),
          cifar_records((dir / "test.bin").string(), 2)};
}

// Class-dependent templates plus noise: learnable in a few steps, so end-to-end tests mean something.
LabelledImages synthetic_split(const DatasetInfo& info, std::int64_t size, const torch::Tensor& templates,
                               std::uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::Tensor labels = torch::randint(info.num_classes, {size}, generator, torch::kInt64);
  torch::Tensor noise = torch::rand({size, info.channels, info.height, info.width}, generator);
  torch::Tensor images = (templates.index_select(0, labels) * 0.7 + noise * 0.3) * 255.0;
  return {images.clamp(0, 255).to(torch::kUInt8), labels};
}

DatasetInfo synthetic_info(const Params& params) {
  DatasetInfo info;
  info.name = "synthetic";
  info.channels = params.integer("channels");
  info.height = params.integer("image_size");
  info.width = params.integer("image_size");
  info.num_classes = params.integer("num_classes");
  info.mean.assign(static_cast<std::size_t>(info.channels), 0.5);
  info.std.assign(static_cast<std::size_t>(info.channels), 0.25);
  return info;
}

std::shared_ptr<DatasetSplits> make_synthetic(const Params& params) {
  auto splits = std::make_shared<DatasetSplits>();
  splits->info = synthetic_info(params);
  const DatasetInfo& info = splits->info;
  const auto seed = static_cast<std::uint64_t>(params.integer("seed"));
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const torch::Tensor templates = torch::rand({info.num_classes, info.channels, info.height, info.width}, generator);
  splits->train = synthetic_split(info, params.integer("train_size"), templates, seed + 1);
  splits->test = synthetic_split(info, params.integer("test_size"), templates, seed + 2);
  return splits;
}

DatasetInfo fashion_mnist_info() { return {"fashion_mnist", 1, 28, 28, 10, {0.2860}, {0.3530}}; }
DatasetInfo mnist_info() { return {"mnist", 1, 28, 28, 10, {0.1307}, {0.3081}}; }

const std::string& tinyimagenet_folder(const Params& params) {
  const std::string& dir = params.string("path");
  if (dir.empty()) params.fail("path", "must name the tiny-imagenet-200 folder");
  return dir;
}

}  // namespace

void register_builtin_datasets(Registry& registry) {
  registry.add_dataset(
      "fashion_mnist", "Fashion-MNIST, 28x28 grey, 10 classes (IDX files)",
      idx_params("/usr/share/datasets/fashion-mnist"),
      [](const Params& params) { return load_idx_folder(params, fashion_mnist_info()); },
      [](const Params& params) { return idx_folder_shape(params, fashion_mnist_info()); });
  registry.add_dataset(
      "mnist", "MNIST, 28x28 grey, 10 classes (IDX files at a path you give)", idx_params(""),
      [](const Params& params) { return load_idx_folder(params, mnist_info()); },
      [](const Params& params) { return idx_folder_shape(params, mnist_info()); });
  registry.add_dataset(
      "cifar10", "CIFAR-10, 32x32 colour, 10 classes (binary version at a path you give)",
      ParamSchema().string("path", "", "Folder with data_batch_1..5.bin and test_batch.bin (cifar-10-batches-bin)"),
      make_cifar10, cifar10_shape);
  registry.add_dataset(
      "cifar100", "CIFAR-100, 32x32 colour, 100 fine or 20 coarse classes (binary version at a path you give)",
      ParamSchema()
          .string("path", "", "Folder with train.bin and test.bin (cifar-100-binary)")
          .string("labels", "fine", "fine (100 classes) or coarse (20 superclasses)", {"fine", "coarse"}),
      make_cifar100, cifar100_shape);
  registry.add_dataset(
      "tinyimagenet",
      "TinyImageNet, 64x64 colour, 200 classes (the tiny-imagenet-200 folder at a path you give; val = test)",
      ParamSchema().string("path", "", "The tiny-imagenet-200 folder (wnids.txt, train/, val/)"),
      [](const Params& params) {
        return std::make_shared<DatasetSplits>(read_tinyimagenet(tinyimagenet_folder(params)));
      },
      [](const Params& params) { return tinyimagenet_shape(tinyimagenet_folder(params)); });
  registry.add_dataset(
      "synthetic", "Random class templates plus noise, for tests",
      ParamSchema()
          .integer("train_size", 512, "Training images", 1)
          .integer("test_size", 256, "Test images", 1)
          .integer("channels", 1, "Image channels", 1)
          .integer("image_size", 28, "Height and width", 4)
          .integer("num_classes", 10, "Classes", 2)
          .integer("seed", 0, "Seed of the templates and the noise", 0),
      make_synthetic, [](const Params& params) {
        return DatasetShape{synthetic_info(params), params.integer("train_size"), params.integer("test_size")};
      });
}

}  // namespace armor
