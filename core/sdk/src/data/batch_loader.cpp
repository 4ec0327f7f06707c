#include "armor/data/batch_loader.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace armor {

BatchLoader::BatchLoader(LabelledImages data, BatchLoaderOptions options)
    : data_(std::move(data)),
      options_(options),
      augmentation_(options.augmentation),
      generator_(at::make_generator<at::CPUGeneratorImpl>(options.seed)) {
  TORCH_CHECK(options_.batch_size > 0, "BatchLoader: batch_size must be positive (got ", options_.batch_size, ")");
}

BatchLoader::BatchLoader(LabelledImages data, std::int64_t batch_size, torch::Device device)
    : BatchLoader(std::move(data), [&] {
        BatchLoaderOptions options;
        options.batch_size = batch_size;
        options.device = device;
        return options;
      }()) {}

BatchLoader::~BatchLoader() {
  if (pending_.valid()) pending_.wait();
}

std::int64_t BatchLoader::num_batches() const { return (data_.size() + options_.batch_size - 1) / options_.batch_size; }

void BatchLoader::start_epoch(std::int64_t epoch) {
  if (pending_.valid()) pending_.wait();  // the background thread reads position_ and order_
  pending_ = {};
  position_ = 0;
  // Generators of their own: the order and the augmentations depend on (seed, epoch) only, not on
  // what else drew random numbers.
  const std::uint64_t epoch_seed = options_.seed * 1000003ULL + static_cast<std::uint64_t>(epoch);
  generator_ = at::make_generator<at::CPUGeneratorImpl>(epoch_seed ^ 0x5DEECE66DULL);
  if (options_.shuffle) {
    auto order_generator = at::make_generator<at::CPUGeneratorImpl>(epoch_seed);
    order_ = torch::randperm(data_.size(), order_generator, torch::TensorOptions().dtype(torch::kInt64));
  } else {
    order_ = torch::Tensor();
  }
  if (options_.prefetch) prefetch();
}

void BatchLoader::prefetch() {
  pending_ = std::async(std::launch::async, [this] { return make_batch(); });
}

std::optional<Batch> BatchLoader::next() {
  if (!pending_.valid()) return make_batch();
  std::optional<Batch> batch = pending_.get();
  if (batch) prefetch();
  return batch;
}

std::optional<Batch> BatchLoader::make_batch() {
  if (position_ >= data_.size()) return std::nullopt;
  const std::int64_t count = std::min(options_.batch_size, data_.size() - position_);
  torch::Tensor images;
  torch::Tensor labels;
  if (order_.defined()) {
    const torch::Tensor index = order_.narrow(0, position_, count);
    images = data_.images.index_select(0, index);
    labels = data_.labels.index_select(0, index);
  } else {
    images = data_.images.narrow(0, position_, count);
    labels = data_.labels.narrow(0, position_, count);
  }
  position_ += count;
  torch::Tensor x = images.to(options_.device).to(torch::kFloat32).div_(255.0);
  if (augmentation_.options().any()) x = augmentation_.apply(x, generator_);
  return Batch{x, labels.to(options_.device)};
}

}  // namespace armor
