// System calls Swift's Glibc module does not expose. Nothing here holds state.
#ifndef CLIPD_CCLIPSYSTEM_H
#define CLIPD_CCLIPSYSTEM_H

#include <stddef.h>

/// Keeps glibc from returning every freed block of 128 KiB or more to the kernel at once:
/// a daemon streaming 256 KiB records would otherwise take a page fault on every page of
/// every record. Blocks of `mmap_threshold` bytes or more are still mapped on their own,
/// and free memory above `trim_threshold` is still returned.
void clipd_tune_allocator(size_t mmap_threshold, size_t trim_threshold);

/// Asks the kernel to back the 2 MiB-aligned part of [base, base + length) with huge
/// pages: filling a 64 MiB item then takes 32 page faults instead of 16384.
void clipd_advise_hugepages(void *base, size_t length);

/// Points Swift Concurrency's global-enqueue hook at `hook` (a thin function pointer with
/// the runtime's hook signature). Returns 0 when another hook was already installed.
int clipd_install_enqueue_global_hook(const void *hook);

/// Returns free heap memory to the kernel (after a large item is gone).
void clipd_release_free_memory(void);

/// The user id of the process at the other end of a unix socket (SO_PEERCRED). Returns 0,
/// or -1 with errno set.
int clipd_peer_uid(int fd, unsigned int *uid);

/// Makes the process undumpable (PR_SET_DUMPABLE 0): no core files, and other processes of
/// the same user cannot ptrace it or read its memory through /proc. Returns 0, or -1.
int clipd_forbid_dumps(void);

#endif
