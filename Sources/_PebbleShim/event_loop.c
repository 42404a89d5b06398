// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "pebble_shim.h"

#include <errno.h>
#include <sys/epoll.h>

// The event loop's epoll calls (EventLoop.swift). `struct epoll_event` is packed on x86_64, which
// Swift cannot import faithfully: these take and give its two fields separately.

int pebble_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int pebble_epoll_control(int epoll, int operation, int fd, uint32_t events, uint64_t token) {
    struct epoll_event event = { .events = events, .data = { .u64 = token } };
    int op = operation == PEBBLE_EPOLL_ADD ? EPOLL_CTL_ADD : operation == PEBBLE_EPOLL_MODIFY ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;
    int result;
    do { result = epoll_ctl(epoll, op, fd, &event); } while (result < 0 && errno == EINTR);
    return result;
}

int pebble_epoll_wait(int epoll, uint32_t *events, uint64_t *tokens, int capacity, int timeout) {
    struct epoll_event ready[64];
    if (capacity > 64) capacity = 64;
    int count;
    do { count = epoll_wait(epoll, ready, capacity, timeout); } while (count < 0 && errno == EINTR);
    for (int i = 0; i < count; i++) {
        events[i] = ready[i].events;
        tokens[i] = ready[i].data.u64;
    }
    return count;
}
