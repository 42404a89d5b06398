// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "pebble_shim.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

// Processes: pidfds, their signals and exit status, reaping a child with its own rusage, and the
// spawn action that closes inherited descriptors.

int pebble_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int pebble_pidfd_send_signal(int pidfd, int signal) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0);
}

int pebble_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
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
