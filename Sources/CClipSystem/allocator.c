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
