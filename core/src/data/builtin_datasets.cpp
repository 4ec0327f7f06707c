#include "armor/data/builtin_datasets.h"

#include <filesystem>

#include <torch/torch.h>

#include "armor/data/dataset.h"
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

std::shared_ptr<DatasetSplits> load_idx_folder(const Params& params, DatasetInfo info) {
  const std::string& dir = params.string("path");
  if (dir.empty()) params.fail("path", "must name the folder holding the IDX files");
  if (!fs::is_directory(dir)) params.fail("path", "is not a folder");
  auto splits = std::make_shared<DatasetSplits>();
  splits->info = std::move(info);
  splits->train = read_idx_pair(idx_file(dir, "train-images-idx3-ubyte"), idx_file(dir, "train-labels-idx1-ubyte"));
  splits->test = read_idx_pair(idx_file(dir, "t10k-images-idx3-ubyte"), idx_file(dir, "t10k-labels-idx1-ubyte"));
  return splits;
}

ParamSchema idx_params(const std::string& default_path) {
  return ParamSchema().string("path", default_path, "Folder with the four IDX files (train/t10k images/labels, .gz or not)");
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

std::shared_ptr<DatasetSplits> make_synthetic(const Params& params) {
  auto splits = std::make_shared<DatasetSplits>();
  DatasetInfo& info = splits->info;
  info.name = "synthetic";
  info.channels = params.integer("channels");
  info.height = params.integer("image_size");
  info.width = params.integer("image_size");
  info.num_classes = params.integer("num_classes");
  info.mean.assign(static_cast<std::size_t>(info.channels), 0.5);
  info.std.assign(static_cast<std::size_t>(info.channels), 0.25);
  const auto seed = static_cast<std::uint64_t>(params.integer("seed"));
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const torch::Tensor templates = torch::rand({info.num_classes, info.channels, info.height, info.width}, generator);
  splits->train = synthetic_split(info, params.integer("train_size"), templates, seed + 1);
  splits->test = synthetic_split(info, params.integer("test_size"), templates, seed + 2);
  return splits;
}

}  // namespace

void register_builtin_datasets(Registry& registry) {
  registry.add_dataset("fashion_mnist", "Fashion-MNIST, 28x28 grey, 10 classes (IDX files)",
                       idx_params("/usr/share/datasets/fashion-mnist"), [](const Params& params) {
                         return load_idx_folder(params, {"fashion_mnist", 1, 28, 28, 10, {0.2860}, {0.3530}});
                       });
  registry.add_dataset("mnist", "MNIST, 28x28 grey, 10 classes (IDX files at a path you give)", idx_params(""),
                       [](const Params& params) {
                         return load_idx_folder(params, {"mnist", 1, 28, 28, 10, {0.1307}, {0.3081}});
                       });
  registry.add_dataset("synthetic", "Random class templates plus noise, for tests",
                       ParamSchema()
                           .integer("train_size", 512, "Training images", 1)
                           .integer("test_size", 256, "Test images", 1)
                           .integer("channels", 1, "Image channels", 1)
                           .integer("image_size", 28, "Height and width", 4)
                           .integer("num_classes", 10, "Classes", 2)
                           .integer("seed", 0, "Seed of the templates and the noise", 0),
                       make_synthetic);
}

}  // namespace armor
