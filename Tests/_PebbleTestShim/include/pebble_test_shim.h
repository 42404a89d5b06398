// SPDX-License-Identifier: Apache-2.0
// C helpers only the tests and the benchmark use; the library's own C is in Sources/_PebbleShim.
#ifndef PEBBLE_TEST_SHIM_H
#define PEBBLE_TEST_SHIM_H

/// The floor the benchmark compares commands with: posix_spawn of `path` (no arguments, this
/// environment, nothing else) and waitpid. Returns the wait status, or -1.
int pebble_spawn_and_wait(const char *_Nonnull path);

/// prctl(PR_SET_CHILD_SUBREAPER, on): for tests that need a subreaper in a helper process only.
int pebble_set_child_subreaper(int on);

/// Tests the zygote's worker table (a new one, with the zygote's code): records `count` made-up
/// pids (growing the table), looks each up, forgets them all. Returns how many were found
/// (`count` when the table is right), or -1 on failure.
int pebble_zygote_table_check(int count);

#endif
