// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "pebble_shim.h"
#include "iovec_cursor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/socket.h>
#include <unistd.h>

// Descriptor passing (SCM_RIGHTS) on a worker's channel: the pool hands a worker the write ends of
// its output pipes with the hello (WorkerOutputCapture.swift).

ssize_t pebble_send_with_fds(int socket, const void *buffer, size_t length, const int *fds, int fd_count) {
    if (fd_count < 0 || fd_count > PEBBLE_MAX_PASSED_FDS) { errno = EINVAL; return -1; }
    struct iovec io = { .iov_base = (void *)buffer, .iov_len = length };
    char space[CMSG_SPACE(PEBBLE_MAX_PASSED_FDS * sizeof(int))];
    memset(space, 0, sizeof space);
    struct msghdr header = { .msg_iov = &io, .msg_iovlen = 1 };
    if (fd_count > 0) {
        header.msg_control = space;
        header.msg_controllen = CMSG_SPACE(fd_count * sizeof(int));
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&header);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(fd_count * sizeof(int));
        memcpy(CMSG_DATA(cmsg), fds, fd_count * sizeof(int));
    }
    ssize_t sent;
    do { sent = sendmsg(socket, &header, MSG_NOSIGNAL); } while (sent < 0 && errno == EINTR);
    return sent;
}

ssize_t pebble_receive_exactly_with_fds(int socket, void *buffer, size_t length, int *fds, int max_fds, int *fd_count) {
    *fd_count = 0;
    size_t offset = 0;
    while (offset < length) {
        struct iovec io = { .iov_base = (char *)buffer + offset, .iov_len = length - offset };
        char space[CMSG_SPACE(PEBBLE_MAX_PASSED_FDS * sizeof(int))];
        struct msghdr header = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = space, .msg_controllen = sizeof space };
        ssize_t got = recvmsg(socket, &header, MSG_CMSG_CLOEXEC);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return got < 0 ? -1 : (ssize_t)offset;
        for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&header); cmsg; cmsg = CMSG_NXTHDR(&header, cmsg)) {
            if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
            int count = (int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            int received[PEBBLE_MAX_PASSED_FDS];
            if (count > PEBBLE_MAX_PASSED_FDS) count = PEBBLE_MAX_PASSED_FDS;
            memcpy(received, CMSG_DATA(cmsg), count * sizeof(int));
            for (int i = 0; i < count; i++) {
                if (*fd_count < max_fds) fds[(*fd_count)++] = received[i];
                else close(received[i]);
            }
        }
        offset += (size_t)got;
    }
    return (ssize_t)offset;
}

int pebble_capture_pipe(int ends[2]) {
    if (pipe2(ends, O_CLOEXEC) != 0) return -1;
    // Only the pool's read end is non-blocking: the flag belongs to each end's own open file, and
    // the worker's writes must wait on a full pipe rather than fail.
    int flags = fcntl(ends[0], F_GETFL);
    if (flags < 0 || fcntl(ends[0], F_SETFL, flags | O_NONBLOCK) != 0) {
        close(ends[0]);
        close(ends[1]);
        return -1;
    }
    return 0;
}

void pebble_flush_stdout(void) { fflush(stdout); }

// Writing without SIGPIPE, pipes, and sending buffers in order.

ssize_t pebble_write_nosigpipe(int fd, const void *buffer, size_t length) {
    sigset_t pipe_only, previous;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &previous);
    // A SIGPIPE already pending on this thread is not ours to consume.
    sigset_t pending;
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    ssize_t written = write(fd, buffer, length);
    int saved = errno;
    if (written < 0 && saved == EPIPE && !was_pending) {
        const struct timespec zero = { 0, 0 };
        while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR) {}
    }
    if (!sigismember(&previous, SIGPIPE)) pthread_sigmask(SIG_SETMASK, &previous, NULL);
    errno = saved;
    return written;
}

int pebble_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int pebble_send_frames(int fd, struct iovec *iov, int count) {
    // Blocking sends: each sendmsg returns once everything it was given is queued, unless a
    // signal interrupts it; then the loop skips what went out and sends the rest.
    while (count > 0) {
        struct msghdr message = { .msg_iov = iov, .msg_iovlen = count > IOV_MAX ? IOV_MAX : count };
        ssize_t sent = sendmsg(fd, &message, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        pebble_iovec_advance(&iov, &count, (size_t)sent);
    }
    return 0;
}

ssize_t pebble_send_vectors_nonblocking(int fd, struct iovec *iov, int count, size_t skip) {
    pebble_iovec_advance(&iov, &count, skip);
    size_t total = 0;
    while (count > 0) {
        struct msghdr message = { .msg_iov = iov, .msg_iovlen = count > IOV_MAX ? IOV_MAX : count };
        ssize_t sent = sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (total > 0) break; // reported by the next call, which sends nothing
            return -1;
        }
        total += (size_t)sent;
        pebble_iovec_advance(&iov, &count, (size_t)sent);
    }
    return (ssize_t)total;
}
