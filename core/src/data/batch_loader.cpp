#include "armor/data/batch_loader.h"

#include <torch/torch.h>

namespace armor {

BatchLoader::BatchLoader(LabelledImages data, std::int64_t batch_size, bool shuffle, std::uint64_t seed,
                         torch::Device device)
    : data_(std::move(data)), batch_size_(batch_size), shuffle_(shuffle), seed_(seed), device_(device) {
  TORCH_CHECK(batch_size_ > 0, "BatchLoader: batch_size must be positive (got ", batch_size_, ")");
}

std::int64_t BatchLoader::num_batches() const { return (data_.size() + batch_size_ - 1) / batch_size_; }

void BatchLoader::start_epoch(std::int64_t epoch) {
  position_ = 0;
  if (!shuffle_) {
    order_ = torch::Tensor();
    return;
  }
  // A generator of its own: the order depends on (seed, epoch) only, not on what else drew numbers.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed_ * 1000003ULL + static_cast<std::uint64_t>(epoch));
  order_ = torch::randperm(data_.size(), generator, torch::TensorOptions().dtype(torch::kInt64));
}

std::optional<Batch> BatchLoader::next() {
  if (position_ >= data_.size()) return std::nullopt;
  const std::int64_t count = std::min(batch_size_, data_.size() - position_);
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
  return Batch{images.to(device_).to(torch::kFloat32).div_(255.0), labels.to(device_)};
}

}  // namespace armor
