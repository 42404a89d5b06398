// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "pebble_shim.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// The words threads blocked on a future sleep on (FutureParking in FutureCore.swift): a waiter
// reads the word, checks its future, and sleeps only while the word is unchanged; a completer
// bumps the word and wakes its sleepers. No mutex: one system call on each side.

uint32_t pebble_word_load(uint32_t *word) {
    return __atomic_load_n(word, __ATOMIC_SEQ_CST);
}

void pebble_word_bump_and_wake(uint32_t *word) {
    __atomic_fetch_add(word, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

int pebble_word_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns) {
    struct timespec relative;
    struct timespec *limit = NULL;
    if (timeout_ns >= 0) {
        relative.tv_sec = (time_t)(timeout_ns / 1000000000);
        relative.tv_nsec = (long)(timeout_ns % 1000000000);
        limit = &relative;
    }
    long result = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, limit, NULL, 0);
    return result == 0 ? 0 : errno;
}
