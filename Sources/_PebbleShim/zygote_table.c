// SPDX-License-Identifier: Apache-2.0
#include "zygote_table.h"

#include <stdlib.h>

int pebble_worker_table_reserve(struct pebble_worker_table *table) {
    if (table->count < table->capacity) return 0;
    size_t capacity = table->capacity ? table->capacity * 2 : 64;
    pid_t *grown = realloc(table->pids, capacity * sizeof *grown);
    if (!grown) return -1;
    table->pids = grown;
    table->capacity = capacity;
    return 0;
}

void pebble_worker_table_add(struct pebble_worker_table *table, pid_t pid) { table->pids[table->count++] = pid; }

bool pebble_worker_table_remove(struct pebble_worker_table *table, pid_t pid) {
    for (size_t i = 0; i < table->count; i++) {
        if (table->pids[i] == pid) {
            table->pids[i] = table->pids[--table->count];
            return true;
        }
    }
    return false;
}

bool pebble_worker_table_contains(const struct pebble_worker_table *table, pid_t pid) {
    for (size_t i = 0; i < table->count; i++) {
        if (table->pids[i] == pid) return true;
    }
    return false;
}
