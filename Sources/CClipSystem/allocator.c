#include "CClipSystem.h"

#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>

void clipd_tune_allocator(size_t mmap_threshold, size_t trim_threshold) {
    mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold);
    mallopt(M_TRIM_THRESHOLD, (int)trim_threshold);
}

void clipd_release_free_memory(void) { malloc_trim(0); }

void clipd_advise_hugepages(void *base, size_t length) {
    const uintptr_t huge = 2u << 20;
    uintptr_t start = ((uintptr_t)base + huge - 1) & ~(huge - 1);
    uintptr_t end = ((uintptr_t)base + length) & ~(huge - 1);
    if (end > start) madvise((void *)start, end - start, MADV_HUGEPAGE);
}

// The Swift runtime's hook (swift/Runtime/Concurrency.h): when set, every job for the
// global concurrent executor goes to it instead of libdispatch. Referenced at link time,
// so it works whether the runtime is linked statically or dynamically.
extern void *swift_task_enqueueGlobal_hook;

int clipd_install_enqueue_global_hook(const void *hook) {
    return __sync_bool_compare_and_swap(&swift_task_enqueueGlobal_hook, (void *)0, (void *)hook) ? 1 : 0;
}
