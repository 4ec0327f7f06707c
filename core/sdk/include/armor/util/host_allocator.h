#pragma once
// The heap settings of a process that trains or attacks on the CPU. LibTorch's CPU allocator asks
// malloc for every tensor and frees it when the tensor dies. glibc serves a block above its mmap
// threshold (128 KiB, rising to at most 32 MiB) with a fresh mmap and returns it with munmap, so
// every step maps its activations anew and page-faults them in again: on the 2-core machine, a
// ResNet-18 training step ran 1.5 s with glibc's defaults and 1.17 s with the heap kept (armor_bench,
// README "Performance"). keep_freed_memory_in_heap() makes malloc serve large blocks from the heap
// and never trim it, so a step reuses the previous step's pages. The cost: the process keeps its
// peak heap until it exits, which a training process reaches every step anyway.
//
// armor and armor_bench call it first thing in main(). ARMOR_MALLOC_TUNING=off leaves glibc's
// defaults (to measure the difference, or for a process that must give memory back).

#include <string>

namespace armor {

struct HostAllocatorTuning {
  bool applied = false;
  std::string reason;  // why not, when not applied
};

HostAllocatorTuning keep_freed_memory_in_heap();

}  // namespace armor
