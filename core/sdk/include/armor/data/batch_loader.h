#pragma once
// BatchLoader: draws batches from in-memory uint8 data, shuffled and augmented per epoch from the
// run's seed (the order and the augmentations depend only on (seed, epoch)). The next batch is
// prepared on a background thread (one per loader, kept for its life, its LibTorch ops on that
// thread alone) while the caller works on the current one.
// next(): x float [B,C,H,W] in [0,1] on the device, y int64 [B].

#include <cstdint>
#include <memory>
#include <optional>

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include "armor/data/augmentation.h"
#include "armor/data/dataset.h"

namespace armor {

struct Batch {
  torch::Tensor x;
  torch::Tensor y;
};

// automatic: prefetch on a GPU only; always / never: on any device (tests use always on the CPU).
enum class Prefetch { automatic, always, never };

struct BatchLoaderOptions {
  std::int64_t batch_size = 128;
  bool shuffle = false;
  std::uint64_t seed = 0;
  torch::Device device = torch::kCPU;
  AugmentationOptions augmentation;         // none by default
  Prefetch prefetch = Prefetch::automatic;  // prepare the next batch on a background thread
};

class BatchLoader {
 public:
  BatchLoader(LabelledImages data, BatchLoaderOptions options);
  // The evaluation form: in order, no augmentation.
  BatchLoader(LabelledImages data, std::int64_t batch_size, torch::Device device);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Starts a pass over the data.
  void start_epoch(std::int64_t epoch);
  std::optional<Batch> next();

  std::int64_t num_batches() const;
  std::int64_t num_images() const { return data_.size(); }

 private:
  class Prefetcher;
  std::optional<Batch> make_batch();  // the batch at position_, advancing it
  bool prefetching() const;           // what options_.prefetch means on options_.device
  void prefetch();
  std::optional<Batch> take_prefetched();  // waits for it; rethrows what making it threw

  LabelledImages data_;
  BatchLoaderOptions options_;
  Augmentation augmentation_;
  at::Generator generator_;  // the epoch's augmentation draws
  torch::Tensor order_;
  std::int64_t position_ = 0;
  std::unique_ptr<Prefetcher> prefetcher_;  // made on the first prefetch
  bool pending_ = false;                    // a prefetched batch is being made or waits to be taken
};

}  // namespace armor
