#include "armor/util/host_allocator.h"

#include <climits>
#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace armor {

HostAllocatorTuning keep_freed_memory_in_heap() {
  const char* setting = std::getenv("ARMOR_MALLOC_TUNING");
  if (setting != nullptr && std::strcmp(setting, "off") == 0) return {false, "ARMOR_MALLOC_TUNING=off"};
#if defined(__GLIBC__)
  // No mmap'd blocks in the main arena (other threads' arenas still mmap what their 64 MiB heaps
  // cannot hold), and no trimming of the heap's top below 2 GiB free.
  if (mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1) return {true, ""};
  return {false, "mallopt refused the settings"};
#else
  return {false, "not glibc's malloc"};
#endif
}

}  // namespace armor
