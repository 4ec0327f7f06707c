#include "armor/data/batch_loader.h"

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace armor {
namespace {

// A helper thread's LibTorch ops run on that thread alone. Otherwise each of its parallel ops (the
// uint8 -> float copy, the division, augmentation) starts an OpenMP team of its own whose threads
// spin beside the training step's team (on 2 cores: 4 busy threads, issue 20's profile had 18 % of
// the time in libgomp). OpenMP's thread count is per thread: the caller's stays as it is.
// at::init_num_threads first, since ATen would otherwise run it on the thread's first parallel op
// and reset the count (it also rebuilds LibTorch's pthreadpool: once per helper thread, not per
// batch, which is why the loader keeps one thread rather than one std::async per batch).
void compute_on_this_thread_alone() {
  at::init_num_threads();
#if defined(_OPENMP)
  omp_set_num_threads(1);
#endif
}

}  // namespace

// One thread that makes one batch at a time, while the loader's caller trains on the last one.
class BatchLoader::Prefetcher {
 public:
  Prefetcher() : thread_([this] { run(); }) {}
  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  void start(std::function<std::optional<Batch>()> job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = std::move(job);
      done_ = false;
    }
    wake_.notify_all();
  }

  std::optional<Batch> wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [this] { return done_; });
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    return std::move(result_);
  }

 private:
  void run() {
    compute_on_this_thread_alone();
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      wake_.wait(lock, [this] { return stop_ || job_; });
      if (stop_) return;
      const std::function<std::optional<Batch>()> job = std::exchange(job_, nullptr);
      lock.unlock();
      std::optional<Batch> result;
      std::exception_ptr error;
      try {
        result = job();
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      result_ = std::move(result);
      error_ = error;
      done_ = true;
      finished_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable finished_;
  std::function<std::optional<Batch>()> job_;
  std::optional<Batch> result_;
  std::exception_ptr error_;
  bool done_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: it starts once every member above exists
};

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
  if (!pending_) return;
  try {
    take_prefetched();  // the thread reads this loader's members: let it finish first
  } catch (...) {       // a failed prefetch nobody asked for
  }
}

std::int64_t BatchLoader::num_batches() const { return (data_.size() + options_.batch_size - 1) / options_.batch_size; }

void BatchLoader::start_epoch(std::int64_t epoch) {
  if (pending_) take_prefetched();  // the background thread reads position_ and order_
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
  if (prefetching()) prefetch();
}

bool BatchLoader::prefetching() const {
  switch (options_.prefetch) {
    case Prefetch::always: return true;
    case Prefetch::never: return false;
    case Prefetch::automatic: break;
  }
  return options_.device.type() != torch::kCPU;
}

void BatchLoader::prefetch() {
  if (!prefetcher_) prefetcher_ = std::make_unique<Prefetcher>();
  prefetcher_->start([this] { return make_batch(); });
  pending_ = true;
}

std::optional<Batch> BatchLoader::take_prefetched() {
  pending_ = false;
  return prefetcher_->wait();
}

std::optional<Batch> BatchLoader::next() {
  if (!pending_) return make_batch();
  std::optional<Batch> batch = take_prefetched();
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
