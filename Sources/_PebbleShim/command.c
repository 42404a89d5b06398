// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "pebble_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

// ---------------------------------------------------------------------------------------------
// Reaping and writing helpers used by the Swift side.

static int wait_status_of(const siginfo_t *info) {
    switch (info->si_code) {
    case CLD_EXITED: return (info->si_status & 0xFF) << 8;
    case CLD_DUMPED: return (info->si_status & 0x7F) | 0x80;
    default: return info->si_status & 0x7F;
    }
}

int pebble_reap_exited(pid_t pid, int pidfd, int kill_group, int *status, struct pebble_rusage *usage) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int result;
    idtype_t type = pidfd >= 0 ? (idtype_t)P_PIDFD : P_PID;
    id_t id = pidfd >= 0 ? (id_t)pidfd : (id_t)pid;
    // First a look (WNOWAIT): only a zombie child of ours pins its pid and group id.
    do { result = waitid(type, id, &info, WEXITED | WNOHANG | WNOWAIT); } while (result < 0 && errno == EINTR);
    if (result < 0 && errno == EINVAL && pidfd >= 0) {   // kernel before 5.4: no P_PIDFD
        type = P_PID;
        id = (id_t)pid;
        do { result = waitid(type, id, &info, WEXITED | WNOHANG | WNOWAIT); } while (result < 0 && errno == EINTR);
    }
    if (result != 0 || info.si_pid == 0) return 0;   // ECHILD: not ours to reap
    if (kill_group) killpg(pid, SIGKILL);
    memset(&info, 0, sizeof info);
    // The raw syscall: its fifth argument (glibc's waitid has none) is the child's own rusage.
    struct rusage own;
    memset(&own, 0, sizeof own);
    do { result = (int)syscall(SYS_waitid, type, id, &info, WEXITED | WNOHANG, &own); } while (result < 0 && errno == EINTR);
    if (result != 0 || info.si_pid == 0) return 0;
    *status = wait_status_of(&info);
    if (usage) {
        usage->user_usec = (long long)own.ru_utime.tv_sec * 1000000 + own.ru_utime.tv_usec;
        usage->system_usec = (long long)own.ru_stime.tv_sec * 1000000 + own.ru_stime.tv_usec;
        usage->maxrss_kb = own.ru_maxrss;
    }
    return 1;
}

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
