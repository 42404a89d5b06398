// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "pebble_shim.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

// MARK: - Task board

int pebble_create_task_board(void) {
    int fd = memfd_create("pebble-task-board", MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (ftruncate(fd, PEBBLE_TASK_BOARD_BYTES) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

uint64_t *pebble_map_task_board(int fd) {
    if (fd < 0) return NULL;
    void *page = mmap(NULL, PEBBLE_TASK_BOARD_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return page == MAP_FAILED ? NULL : (uint64_t *)page;
}

void pebble_unmap_task_board(uint64_t *board) {
    if (board) munmap(board, PEBBLE_TASK_BOARD_BYTES);
}

static uint64_t board_word(uint64_t sequence, int worker, unsigned state) {
    return (sequence << 16) | ((uint64_t)(worker & 0x1FFF) << 3) | state;
}

static bool board_exchange(uint64_t *board, int slot, uint64_t from, uint64_t to) {
    return __atomic_compare_exchange_n(&board[slot], &from, to, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

void pebble_claim_offer(uint64_t *board, int slot, uint64_t sequence) {
    __atomic_store_n(&board[slot], board_word(sequence, 0, PEBBLE_CLAIM_OFFERED), __ATOMIC_RELEASE);
}

bool pebble_claim_take(uint64_t *board, int slot, uint64_t sequence, int worker) {
    if (slot < 0 || slot >= PEBBLE_TASK_BOARD_SLOTS) return false;
    if (!board_exchange(board, slot, board_word(sequence, 0, PEBBLE_CLAIM_OFFERED),
                        board_word(sequence, worker, PEBBLE_CLAIM_TAKEN))) return false;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    __atomic_store_n(&board[PEBBLE_TASK_BOARD_SLOTS + slot],
                     (uint64_t)now.tv_sec * UINT64_C(1000000000) + (uint64_t)now.tv_nsec, __ATOMIC_RELAXED);
    return true;
}

uint64_t pebble_claim_taken_at(const uint64_t *board, int slot) {
    if (slot < 0 || slot >= PEBBLE_TASK_BOARD_SLOTS) return 0;
    return __atomic_load_n(&board[PEBBLE_TASK_BOARD_SLOTS + slot], __ATOMIC_RELAXED);
}

bool pebble_claim_finish(uint64_t *board, int slot, uint64_t sequence, int worker) {
    return board_exchange(board, slot, board_word(sequence, worker, PEBBLE_CLAIM_TAKEN),
                          board_word(sequence, worker, PEBBLE_CLAIM_DONE));
}

bool pebble_claim_revoke(uint64_t *board, int slot, uint64_t sequence) {
    return board_exchange(board, slot, board_word(sequence, 0, PEBBLE_CLAIM_OFFERED),
                          board_word(sequence, 0, PEBBLE_CLAIM_REVOKED));
}

bool pebble_claim_stop(uint64_t *board, int slot, uint64_t sequence, int worker) {
    return board_exchange(board, slot, board_word(sequence, worker, PEBBLE_CLAIM_TAKEN),
                          board_word(sequence, worker, PEBBLE_CLAIM_STOPPING));
}

int pebble_claim_read(const uint64_t *board, int slot, uint64_t sequence) {
    uint64_t word = __atomic_load_n(&board[slot], __ATOMIC_ACQUIRE);
    return (word >> 16) == (sequence & 0xFFFFFFFFFFFFull) ? (int)(word & 0xFFFF) : -1;
}

// MARK: - Task feed

int pebble_feed_send(int fd, const struct pebble_feed_message *messages, int count) {
    enum { batch = 64 };
    struct mmsghdr headers[batch];
    struct iovec iov[batch];
    int sent = 0;
    while (sent < count) {
        int n = count - sent > batch ? batch : count - sent;
        memset(headers, 0, sizeof(struct mmsghdr) * (size_t)n);
        for (int i = 0; i < n; i++) {
            const struct pebble_feed_message *message = &messages[sent + i];
            iov[i] = (struct iovec){ .iov_base = (void *)message->bytes, .iov_len = message->length };
            headers[i].msg_hdr.msg_iov = &iov[i];
            headers[i].msg_hdr.msg_iovlen = 1;
        }
        int done = sendmmsg(fd, headers, (unsigned)n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (done < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return sent;
            return -1;
        }
        sent += done;
        if (done < n) return sent;
    }
    return sent;
}

int pebble_feed_watch(int fd) {
    int watch = epoll_create1(EPOLL_CLOEXEC);
    if (watch < 0) return -1;
    struct epoll_event event = { .events = EPOLLIN | EPOLLEXCLUSIVE };
    if (epoll_ctl(watch, EPOLL_CTL_ADD, fd, &event) != 0) {
        close(watch);
        return -1;
    }
    return watch;
}

int pebble_feed_wait(int watch) {
    struct epoll_event ready;
    int count;
    do { count = epoll_wait(watch, &ready, 1, -1); } while (count < 0 && errno == EINTR);
    return count < 0 ? -1 : 0;
}

ssize_t pebble_feed_receive(int fd, void *buffer, size_t capacity, bool nonblocking) {
    struct iovec iov = { .iov_base = buffer, .iov_len = capacity };
    while (true) {
        // No control buffer: nothing travels attached to a job message (the kernel closes any
        // descriptor a message would carry).
        struct msghdr message = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t got = recvmsg(fd, &message, nonblocking ? MSG_DONTWAIT : 0);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return -1;
        if (message.msg_flags & MSG_TRUNC) return -2;
        return got;
    }
}
