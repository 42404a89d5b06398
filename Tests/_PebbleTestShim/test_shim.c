// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "pebble_test_shim.h"
#include "zygote_table.h"

#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

extern char **environ;

int pebble_spawn_and_wait(const char *path) {
    char *argv[] = { (char *)path, NULL };
    pid_t pid;
    if (posix_spawn(&pid, path, NULL, NULL, argv, environ) != 0) return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return status;
}

int pebble_set_child_subreaper(int on) { return prctl(PR_SET_CHILD_SUBREAPER, on, 0, 0, 0); }

int pebble_zygote_table_check(int count) {
    struct pebble_worker_table table = { 0 };
    int found = 0;
    for (int i = 0; i < count; i++) {
        if (pebble_worker_table_reserve(&table) != 0) {
            free(table.pids);
            return -1;
        }
        pebble_worker_table_add(&table, (pid_t)(1000000 + i));
    }
    for (int i = 0; i < count; i++) found += pebble_worker_table_contains(&table, (pid_t)(1000000 + i));
    int forgotten = 0;
    for (int i = 0; i < count; i++) forgotten += pebble_worker_table_remove(&table, (pid_t)(1000000 + i));
    int empty = table.count == 0;
    free(table.pids);
    return forgotten == count && empty ? found : -1;
}
