#pragma once
// BatchLoader: draws batches from in-memory uint8 data, shuffled per epoch from the run's seed.
// next(): x float [B,C,H,W] in [0,1] on the device, y int64 [B].

#include <cstdint>
#include <optional>

#include <torch/types.h>

#include "armor/data/dataset.h"

namespace armor {

struct Batch {
  torch::Tensor x;
  torch::Tensor y;
};

class BatchLoader {
 public:
  BatchLoader(LabelledImages data, std::int64_t batch_size, bool shuffle, std::uint64_t seed, torch::Device device);

  // Starts a pass over the data; the order depends only on (seed, epoch).
  void start_epoch(std::int64_t epoch);
  std::optional<Batch> next();

  std::int64_t num_batches() const;
  std::int64_t num_images() const { return data_.size(); }

 private:
  LabelledImages data_;
  std::int64_t batch_size_;
  bool shuffle_;
  std::uint64_t seed_;
  torch::Device device_;
  torch::Tensor order_;
  std::int64_t position_ = 0;
};

}  // namespace armor
