// SPDX-License-Identifier: Apache-2.0
// Internal to _PebbleShim: the zygote's table of the workers it forked. The test shim
// (Tests/_PebbleTestShim) includes it too, to test the table.
#ifndef PEBBLE_ZYGOTE_TABLE_H
#define PEBBLE_ZYGOTE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/// The pids of the workers a zygote forked, as opposed to orphans reparented to it. It grows as
/// needed; room is made before each fork, so a fork it could not record is refused, never made
/// and forgotten. Zero-initialized, it is empty.
struct pebble_worker_table {
    pid_t *_Nullable pids;
    size_t count;
    size_t capacity;
};

/// Makes room for one more pid. 0, or -1 when memory is short.
int pebble_worker_table_reserve(struct pebble_worker_table *_Nonnull table);
/// Records `pid`; pebble_worker_table_reserve must have made room.
void pebble_worker_table_add(struct pebble_worker_table *_Nonnull table, pid_t pid);
/// Forgets `pid`; whether it was there.
bool pebble_worker_table_remove(struct pebble_worker_table *_Nonnull table, pid_t pid);
/// Whether `pid` is there.
bool pebble_worker_table_contains(const struct pebble_worker_table *_Nonnull table, pid_t pid);

#endif
