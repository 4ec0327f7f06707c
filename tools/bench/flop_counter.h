#pragma once
// FlopCounter: while alive, counts the multiply-add FLOPs (2 per MAC) of every convolution and
// matrix product ATen runs in this thread, from the operators' input shapes (the same rule as
// PyTorch's flop counter). Element-wise work is not counted.

#include <cstdint>

#include <ATen/record_function.h>

namespace armor::bench {

class FlopCounter {
 public:
  FlopCounter();
  ~FlopCounter();
  FlopCounter(const FlopCounter&) = delete;
  FlopCounter& operator=(const FlopCounter&) = delete;
  double flops() const noexcept;

 private:
  at::CallbackHandle handle_;
};

}  // namespace armor::bench
