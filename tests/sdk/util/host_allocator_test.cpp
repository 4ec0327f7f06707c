// armor::keep_freed_memory_in_heap(): after it, a block far above glibc's mmap threshold comes from
// the heap (no new mmap'd block) and its pages stay in the heap once freed, which is what makes a
// training step reuse the previous step's memory instead of page-faulting it in again.

#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

#include "armor/util/host_allocator.h"

namespace {

TEST(HostAllocator, LargeBlocksComeFromTheHeapAndStayThere) {
  const armor::HostAllocatorTuning tuning = armor::keep_freed_memory_in_heap();
  ASSERT_TRUE(tuning.applied) << tuning.reason;
  const struct mallinfo2 before = mallinfo2();
  const std::size_t bytes = 48u << 20;  // above glibc's largest mmap threshold (32 MiB)
  void* block = std::malloc(bytes);
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, bytes);
  const struct mallinfo2 held = mallinfo2();
  EXPECT_EQ(held.hblks, before.hblks) << "the block was mmap'd";
  EXPECT_GE(held.arena, before.arena + bytes);
  std::free(block);
  EXPECT_GE(mallinfo2().arena, before.arena + bytes) << "the heap was trimmed back";
}

TEST(HostAllocator, OffLeavesGlibcsDefaults) {
  setenv("ARMOR_MALLOC_TUNING", "off", 1);
  const armor::HostAllocatorTuning tuning = armor::keep_freed_memory_in_heap();
  unsetenv("ARMOR_MALLOC_TUNING");
  EXPECT_FALSE(tuning.applied);
  EXPECT_EQ(tuning.reason, "ARMOR_MALLOC_TUNING=off");
}

}  // namespace
