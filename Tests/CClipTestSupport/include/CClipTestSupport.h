// What the tests' process spawner needs from glibc that Swift's Glibc module does not
// expose. Nothing here holds state.
#ifndef CLIPD_CCLIPTESTSUPPORT_H
#define CLIPD_CCLIPTESTSUPPORT_H

#include <spawn.h>

/// Adds "close every descriptor from `from` up" to a spawn's file actions
/// (posix_spawn_file_actions_addclosefrom_np, glibc 2.34). Returns 0 or an error number.
int clipd_test_spawn_close_from(posix_spawn_file_actions_t *actions, int from);

#endif
