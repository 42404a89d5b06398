// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "pebble_shim.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

extern char **environ;

int pebble_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int pebble_pidfd_send_signal(int pidfd, int signal) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0);
}

int pebble_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int pebble_usable_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int count = CPU_COUNT(&set);
        if (count > 0) return count;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

char *const *pebble_environ(void) { return environ; }

void pebble_set_thread_name(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof truncated - 1);
    truncated[sizeof truncated - 1] = 0;
    pthread_setname_np(pthread_self(), truncated);
}

/// struct pidfd_info of Linux 6.15 (64 bytes); exit_code is valid when mask has PIDFD_INFO_EXIT.
struct pebble_pidfd_info {
    uint64_t mask;
    uint64_t cgroupid;
    uint32_t ids[11];
    int32_t exit_code;
};

int pebble_pidfd_exit_status(int pidfd, int *status) {
    const uint64_t info_exit = 1u << 3;
    struct pebble_pidfd_info info = { .mask = info_exit };
    if (ioctl(pidfd, _IOWR(0xFF, 11, struct pebble_pidfd_info), &info) != 0) return -1;
    if (!(info.mask & info_exit)) return -1;
    *status = info.exit_code;
    return 0;
}

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
        while (count > 0 && (size_t)sent >= iov->iov_len) {
            sent -= (ssize_t)iov->iov_len;
            iov++;
            count--;
        }
        if (count > 0) {
            iov->iov_base = (char *)iov->iov_base + sent;
            iov->iov_len -= (size_t)sent;
        }
    }
    return 0;
}
