#pragma once
// Datasets as armor holds them: the whole split in memory as uint8, converted to float batches in
// [0,1] only when a batch is drawn. Dataset plugins (kind "dataset") return DatasetSplits.

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

namespace armor {

struct DatasetInfo {
  std::string name;
  std::int64_t channels = 0;
  std::int64_t height = 0;
  std::int64_t width = 0;
  std::int64_t num_classes = 0;
  std::vector<double> mean;  // per channel, for the model's built-in normalisation
  std::vector<double> std;
};

// images uint8 [N,C,H,W], labels int64 [N]
struct LabelledImages {
  torch::Tensor images;
  torch::Tensor labels;

  std::int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  // The first n images (all when n <= 0 or n >= size()).
  LabelledImages head(std::int64_t n) const;
};

struct DatasetSplits {
  DatasetInfo info;
  LabelledImages train;
  LabelledImages test;
};

// What a dataset holds, read without decoding its images (IDX headers, file sizes, folder listings):
// what `armor run` needs to check [data] train_limit / test_limit / validation and to build the
// model before anything is recorded. A dataset plugin reports it through its shape probe (see
// Registry::add_dataset).
struct DatasetShape {
  DatasetInfo info;
  std::int64_t train_size = 0;
  std::int64_t test_size = 0;
};

// A validation split carved out of training data: `count` images drawn by a permutation seeded
// with `seed` (the same images for every run with that seed), the rest stays training data.
struct TrainValidation {
  LabelledImages train;
  LabelledImages validation;
};
TrainValidation split_validation(const LabelledImages& train, std::int64_t count, std::uint64_t seed);

// [data].validation as an image count: 0 = none, a value in (0,1) a fraction of `train_size`, a
// whole number >= 1 a count (ConfigError through `data.fail` when it leaves no training data).
std::int64_t validation_count(double value, std::int64_t train_size);

// Reads an IDX image file ([N,H,W] uint8) and its IDX label file ([N] uint8), gzip-compressed or
// not; with limit > 0 only the first min(N, limit) items (decompressing 60 000 images costs half a
// second a run). DataError naming the file on a missing file, a bad magic number, a truncated file
// (within what is read), item counts that differ between the two headers, or (num_classes > 0) a
// label outside [0, num_classes).
LabelledImages read_idx_pair(const std::string& images_path, const std::string& labels_path, std::int64_t limit = 0,
                             std::int64_t num_classes = 0);

// The item count of an IDX image file and its label file, from their headers alone (the same
// DataErrors as read_idx_pair for what the headers show).
std::int64_t idx_pair_items(const std::string& images_path, const std::string& labels_path);

// DataError "<file>: label <L> at index <i> is out of range for <n> classes" for the first label
// outside [0, num_classes): a bad label file, found when it is read rather than as LibTorch's
// "Target L is out of bounds" in the middle of training.
void check_labels(const torch::Tensor& labels, std::int64_t num_classes, const std::string& file);

}  // namespace armor
