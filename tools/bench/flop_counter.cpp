#include "flop_counter.h"

#include <atomic>
#include <string>

#include <ATen/core/ivalue.h>

namespace armor::bench {
namespace {

std::atomic<double> counted{0.0};

std::int64_t product(c10::IntArrayRef sizes, std::size_t from = 0) {
  std::int64_t n = 1;
  for (std::size_t i = from; i < sizes.size(); ++i) n *= sizes[i];
  return n;
}

// FLOPs of one operator call from its inputs; 0 for operators that are not products.
double flops_of(const at::RecordFunction& fn) {
  const std::string name = fn.name();
  const auto inputs = fn.inputs();
  const auto tensor = [&](std::size_t i) {
    return i < inputs.size() && inputs[i].isTensor() ? inputs[i].toTensor() : at::Tensor();
  };
  if (name == "aten::convolution") {  // not _convolution, which it calls: counted once
    const at::Tensor x = tensor(0), w = tensor(1);
    if (!x.defined() || !w.defined() || x.dim() != 4) return 0;
    // Output spatial size from stride/padding/dilation (inputs 3, 4, 5).
    const auto ints = [&](std::size_t i) { return inputs[i].toIntVector(); };
    const auto stride = ints(3), padding = ints(4), dilation = ints(5);
    std::int64_t out_pixels = 1;
    for (int d = 0; d < 2; ++d) {
      const std::int64_t size = x.size(2 + d), kernel = w.size(2 + d);
      out_pixels *= (size + 2 * padding[d] - dilation[d] * (kernel - 1) - 1) / stride[d] + 1;
    }
    return 2.0 * static_cast<double>(x.size(0) * w.size(0) * out_pixels * product(w.sizes(), 1));
  }
  if (name == "aten::mm" || name == "aten::addmm") {
    const at::Tensor a = tensor(name == "aten::mm" ? 0 : 1), b = tensor(name == "aten::mm" ? 1 : 2);
    if (!a.defined() || !b.defined()) return 0;
    return 2.0 * static_cast<double>(a.size(0) * a.size(1) * b.size(1));
  }
  if (name == "aten::bmm") {
    const at::Tensor a = tensor(0), b = tensor(1);
    if (!a.defined() || !b.defined()) return 0;
    return 2.0 * static_cast<double>(a.size(0) * a.size(1) * a.size(2) * b.size(2));
  }
  return 0;
}

}  // namespace

FlopCounter::FlopCounter() {
  counted = 0.0;
  handle_ = at::addThreadLocalCallback(
      at::RecordFunctionCallback([](const at::RecordFunction& fn) -> std::unique_ptr<at::ObserverContext> {
        const double f = flops_of(fn);
        if (f > 0) counted = counted + f;
        return nullptr;
      })
          .needsInputs(true)
          .scopes({at::RecordScope::FUNCTION}));
}

FlopCounter::~FlopCounter() { at::removeCallback(handle_); }

double FlopCounter::flops() const noexcept { return counted; }

}  // namespace armor::bench
