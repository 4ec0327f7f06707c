#include "armor/data/dataset.h"

#include <zlib.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <memory>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/error.h"

namespace armor {
namespace {

struct GzCloser {
  void operator()(gzFile file) const { gzclose(file); }
};
using GzFile = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

struct IdxContents {
  torch::Tensor data;         // the first `limit` items (all when limit is 0)
  std::int64_t header_items;  // the item count the header gives
};

// Opens an IDX file (gzip or plain; zlib reads both) and reads its header: magic 0x0000 08 <ndims>,
// big-endian dims.
GzFile open_idx(const std::string& path, int expected_dims, std::vector<std::int64_t>& dims) {
  if (!std::filesystem::exists(path)) throw DataError(path + ": file not found");
  GzFile file(gzopen(path.c_str(), "rb"));
  if (!file) throw DataError(path + ": cannot open");
  std::array<unsigned char, 4> magic{};
  if (gzread(file.get(), magic.data(), 4) != 4) throw DataError(path + ": truncated IDX header");
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08) {
    throw DataError(path + ": not an IDX file of unsigned bytes (bad magic number)");
  }
  if (magic[3] != expected_dims) {
    throw DataError(path + ": IDX file has " + std::to_string(magic[3]) + " dimensions, expected " +
                    std::to_string(expected_dims));
  }
  dims.clear();
  for (int d = 0; d < expected_dims; ++d) {
    std::array<unsigned char, 4> raw{};
    if (gzread(file.get(), raw.data(), 4) != 4) throw DataError(path + ": truncated IDX header");
    const std::int64_t size = (std::int64_t{raw[0]} << 24) | (raw[1] << 16) | (raw[2] << 8) | raw[3];
    dims.push_back(size);
  }
  return file;
}

// Reads an IDX file: its header, then the data bytes of the first `limit` items (all when 0).
IdxContents read_idx(const std::string& path, int expected_dims, std::int64_t limit) {
  std::vector<std::int64_t> dims;
  const GzFile file = open_idx(path, expected_dims, dims);
  std::int64_t total = 1;
  const std::int64_t header_items = dims.front();
  if (limit > 0) dims.front() = std::min(dims.front(), limit);
  for (const std::int64_t size : dims) total *= size;
  torch::Tensor data = torch::empty(dims, torch::kUInt8);
  std::int64_t done = 0;
  while (done < total) {
    const auto chunk = static_cast<unsigned>(std::min<std::int64_t>(total - done, 1 << 30));
    const int got = gzread(file.get(), data.data_ptr<std::uint8_t>() + done, chunk);
    if (got <= 0) {
      const std::string of_what =
          dims.front() < header_items ? fmt::format(" (the first {} of its {} items)", dims.front(), header_items) : "";
      throw DataError(fmt::format("{}: truncated: expected {} data bytes{}, found {}", path, total, of_what, done));
    }
    done += got;
  }
  return {data, header_items};
}

}  // namespace

LabelledImages LabelledImages::head(std::int64_t n) const {
  if (n <= 0 || n >= size()) return *this;
  return {images.narrow(0, 0, n), labels.narrow(0, 0, n)};
}

TrainValidation split_validation(const LabelledImages& train, std::int64_t count, std::uint64_t seed) {
  if (count <= 0) return {train, {}};
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const torch::Tensor order = torch::randperm(train.size(), generator, torch::TensorOptions().dtype(torch::kInt64));
  const torch::Tensor held_out = std::get<0>(order.narrow(0, 0, count).sort());
  const torch::Tensor kept = std::get<0>(order.narrow(0, count, train.size() - count).sort());
  return {{train.images.index_select(0, kept), train.labels.index_select(0, kept)},
          {train.images.index_select(0, held_out), train.labels.index_select(0, held_out)}};
}

std::int64_t validation_count(double value, std::int64_t train_size) {
  if (value <= 0) return 0;
  if (value < 1) return static_cast<std::int64_t>(std::llround(value * static_cast<double>(train_size)));
  if (value != std::floor(value)) {
    throw ConfigError("data.validation = " + std::to_string(value) +
                      ": must be a fraction below 1 or a whole number of images");
  }
  const auto count = static_cast<std::int64_t>(value);
  if (count >= train_size) {
    throw ConfigError("data.validation = " + std::to_string(count) + " leaves no training data (" +
                      std::to_string(train_size) + " training images)");
  }
  return count;
}

void check_labels(const torch::Tensor& labels, std::int64_t num_classes, const std::string& file) {
  if (labels.numel() == 0) return;
  const torch::Tensor bad = torch::logical_or(labels.lt(0), labels.ge(num_classes)).nonzero();
  if (bad.size(0) == 0) return;
  const std::int64_t index = bad[0][0].item<std::int64_t>();
  throw DataError(fmt::format("{}: label {} at index {} is out of range for {} classes (labels must lie in [0, {}])",
                              file, labels[index].item<std::int64_t>(), index, num_classes, num_classes - 1));
}

LabelledImages read_idx_pair(const std::string& images_path, const std::string& labels_path, std::int64_t limit,
                             std::int64_t num_classes) {
  const IdxContents images = read_idx(images_path, 3, limit);
  const IdxContents labels = read_idx(labels_path, 1, limit);
  if (images.header_items != labels.header_items) {
    throw DataError(images_path + " has " + std::to_string(images.header_items) + " images but " + labels_path +
                    " has " + std::to_string(labels.header_items) + " labels");
  }
  torch::Tensor label_values = labels.data.to(torch::kInt64);
  if (num_classes > 0) check_labels(label_values, num_classes, labels_path);
  return {images.data.unsqueeze(1), label_values};
}

std::int64_t idx_pair_items(const std::string& images_path, const std::string& labels_path) {
  std::vector<std::int64_t> image_dims, label_dims;
  open_idx(images_path, 3, image_dims);
  open_idx(labels_path, 1, label_dims);
  if (image_dims.front() != label_dims.front()) {
    throw DataError(images_path + " has " + std::to_string(image_dims.front()) + " images but " + labels_path +
                    " has " + std::to_string(label_dims.front()) + " labels");
  }
  return image_dims.front();
}

}  // namespace armor
