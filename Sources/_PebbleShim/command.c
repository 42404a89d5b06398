// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "pebble_shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
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

// ---------------------------------------------------------------------------------------------
// The per-command reaper.
//
// Why a fork, and not posix_spawn of the command itself: the command's whole tree must die on a
// timeout, including descendants that left its process group with setsid. Only a child subreaper
// (PR_SET_CHILD_SUBREAPER) sees those: their orphans are reparented to it, not to PID 1. The
// user's own process must not become one, so each command gets a tiny reaper process between us
// and it. posix_spawn can only exec, and a re-exec of this program as a reaper costs ~5 ms (the
// dynamic loader brings up the Swift runtime); glibc's posix_spawn also cannot set rlimits. So the
// reaper is `_Fork()` of this process (the async-signal-safe fork: no atfork handlers), which from
// then on runs only the async-signal-safe C below — no malloc, no locks, no Swift — and starts the
// command with clone(CLONE_VM | CLONE_VFORK) + setrlimit + chdir + execve, as posix_spawn does. Its memory is a
// copy-on-write copy of ours that it barely touches.
//
// The reaper:
// 1. moves the pipes to 0, 1, 2 and the control socket to 3 (close-on-exec), closes every other
//    descriptor (those of the parent, of other commands being started), resets every signal
//    disposition to the default and blocks every signal (SIGCHLD is read from a signalfd; a
//    terminal's SIGINT or a stray SIGTERM cannot kill it and orphan the tree);
// 2. gets a process group of its own and becomes a child subreaper;
// 3. starts the command (clone CLONE_VM | CLONE_VFORK), which takes a process group of its own, PR_SET_PDEATHSIG(SIGKILL) (if the
//    reaper is SIGKILLed), its limits and directory, an empty signal mask, and tries each path;
// 4. reports STARTED, closes its copies of the pipes, and waits for the command's exit (signalfd)
//    or anything on the control socket: a kill request (one byte) or end-of-file (the parent died);
// 5. tears the tree down either way: kills the command's group while its leader is unreaped (the
//    group id cannot have been reused), then, until it has no child left, SIGKILLs every child it
//    has (read from /proc/self/task/<pid>/children; each is an unreaped child, so its pid is its
//    own) and reaps one — descendants of a killed child are reparented to it and killed next round;
// 6. reports EXITED with the command's own wait status, and exits 0.

// The reaper runs in a forked copy of a threaded process: it must not run code that a sanitizer
// instrumented, nor any libc call that a sanitizer runtime intercepts (the runtime's locks and
// thread state were copied from threads that do not exist in the copy; under the thread sanitizer
// the reaper died). So every function below is uninstrumented, and talks to the kernel through
// syscall(2) only, which no sanitizer intercepts; clone is glibc's own, found before the fork.

#if defined(__has_attribute)
#if __has_attribute(disable_sanitizer_instrumentation)
#define PEBBLE_UNINSTRUMENTED __attribute__((disable_sanitizer_instrumentation, noinline))
#endif
#endif
#ifndef PEBBLE_UNINSTRUMENTED
#define PEBBLE_UNINSTRUMENTED __attribute__((no_sanitize("thread", "address"), noinline))
#endif

/// The kernel's struct sigaction for rt_sigaction (not glibc's): enough to set SIG_DFL.
struct kernel_sigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    unsigned long mask;
};

typedef int (*clone_function)(int (*)(void *), void *, int, void *, ...);
/// glibc's clone, not a sanitizer's interceptor of it (resolved in the parent, before the fork).
static clone_function libc_clone;
static pthread_once_t libc_clone_once = PTHREAD_ONCE_INIT;

static void find_libc_clone(void) {
#ifdef __GLIBC__
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    if (libc) {
        libc_clone = (clone_function)dlsym(libc, "clone");
        dlclose(libc);
    }
#endif
    if (!libc_clone) libc_clone = clone;
}

/// What the command's child writes before it _exits on failure (shared memory with the reaper).
static volatile int child_failure_errno;
static volatile int child_failure_stage;

PEBBLE_UNINSTRUMENTED __attribute__((noreturn))
static void raw_exit(int code) {
    for (;;) syscall(SYS_exit_group, code);
}

PEBBLE_UNINSTRUMENTED
static void raw_zero(void *memory, size_t length) {
    volatile char *bytes = memory;
    for (size_t i = 0; i < length; i++) bytes[i] = 0;
}

PEBBLE_UNINSTRUMENTED
static void send_report_with_usage(int control, int type, int pid, int value, int stage,
                                   const struct rusage *children, long carried_kb) {
    struct pebble_command_message message;
    raw_zero(&message, sizeof message);
    message.type = type;
    if (children) {
        message.user_usec = (long long)children->ru_utime.tv_sec * 1000000 + children->ru_utime.tv_usec;
        message.system_usec = (long long)children->ru_stime.tv_sec * 1000000 + children->ru_stime.tv_usec;
        message.maxrss_kb = children->ru_maxrss > carried_kb ? children->ru_maxrss : -1;
    }
    message.pid = pid;
    message.value = value;
    message.stage = stage;
    while (syscall(SYS_sendto, control, &message, sizeof message, MSG_NOSIGNAL, NULL, 0) < 0 && errno == EINTR) {}
}

PEBBLE_UNINSTRUMENTED
static void send_report(int control, int type, int pid, int value, int stage) {
    send_report_with_usage(control, type, pid, value, stage, NULL, 0);
}

PEBBLE_UNINSTRUMENTED
static void close_from(int first) {
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0) return;
    struct rlimit limit;
    int last = syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &limit) == 0 && limit.rlim_cur < 65536 ? (int)limit.rlim_cur : 65536;
    for (int fd = first; fd < last; fd++) syscall(SYS_close, fd);
}

PEBBLE_UNINSTRUMENTED
static char *format_int(char *end, int value) {
    *--end = 0;
    do { *--end = (char)('0' + value % 10); value /= 10; } while (value);
    return end;
}

/// SIGKILLs every child of this (single-threaded) process; returns how many it found.
PEBBLE_UNINSTRUMENTED
static int kill_children(void) {
    char number[16];
    char path[64] = "/proc/self/task/";
    const char *pid = format_int(number + sizeof number, (int)syscall(SYS_getpid));
    size_t length = 0;
    while (path[length]) length++;
    while (*pid) path[length++] = *pid++;
    const char *tail = "/children";
    while (*tail) path[length++] = *tail++;
    path[length] = 0;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int found = 0;
    char buffer[4096];
    int current = 0, in_number = 0;
    for (;;) {
        ssize_t got = syscall(SYS_read, fd, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        for (ssize_t i = 0; i < got; i++) {
            char c = buffer[i];
            if (c >= '0' && c <= '9') {
                current = current * 10 + (c - '0');
                in_number = 1;
            } else if (in_number) {
                syscall(SYS_kill, current, SIGKILL);
                found++;
                current = 0;
                in_number = 0;
            }
        }
    }
    if (in_number) { syscall(SYS_kill, current, SIGKILL); found++; }
    syscall(SYS_close, fd);
    return found;
}

PEBBLE_UNINSTRUMENTED __attribute__((noreturn))
static void run_command(const struct pebble_command_spec *spec, pid_t reaper) {
    syscall(SYS_setpgid, 0, 0);
    syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (syscall(SYS_getppid) != reaper) raw_exit(127);
    for (int i = 0; i < spec->limit_count; i++) {
        struct rlimit limit;
        if (syscall(SYS_prlimit64, 0, spec->limits[i].resource, NULL, &limit) != 0) limit.rlim_max = RLIM_INFINITY;
        rlim_t value = (rlim_t)spec->limits[i].value;
        if (limit.rlim_max != RLIM_INFINITY && value > limit.rlim_max) value = limit.rlim_max;
        limit.rlim_cur = value;
        limit.rlim_max = value;
        if (syscall(SYS_prlimit64, 0, spec->limits[i].resource, &limit, NULL) != 0) {
            child_failure_stage = PEBBLE_STAGE_LIMITS;
            child_failure_errno = errno;
            raw_exit(127);
        }
    }
    if (spec->directory && syscall(SYS_chdir, spec->directory) != 0) {
        child_failure_stage = PEBBLE_STAGE_DIRECTORY;
        child_failure_errno = errno;
        raw_exit(127);
    }
    unsigned long none = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
    int failure = ENOENT;
    for (char *const *path = spec->paths; *path; path++) {
        syscall(SYS_execve, *path, spec->argv, spec->envp);
        // As execvp: a missing or non-directory entry moves on; a permission error is remembered.
        if (errno == EACCES) failure = EACCES;
        else if (errno != ENOENT && errno != ENOTDIR && errno != ENAMETOOLONG) { failure = errno; break; }
    }
    child_failure_stage = PEBBLE_STAGE_EXEC;
    child_failure_errno = failure;
    raw_exit(127);
}

struct command_start {
    const struct pebble_command_spec *spec;
    pid_t reaper;
};

PEBBLE_UNINSTRUMENTED
static int command_entry(void *argument) {
    const struct command_start *start = argument;
    run_command(start->spec, start->reaper);
}

/// The command's stack while it runs in the reaper's memory, until execve (CLONE_VM | CLONE_VFORK).
static char command_stack[64 * 1024] __attribute__((aligned(16)));

/// Kills the command's group (while `command` is unreaped), then every descendant; returns the
/// command's wait status (kept if it was reaped already).
PEBBLE_UNINSTRUMENTED
static int tear_down(pid_t command, int command_reaped, int status) {
    if (!command_reaped) syscall(SYS_kill, -command, SIGKILL);
    for (;;) {
        kill_children();
        int raw = 0;
        pid_t reaped = (pid_t)syscall(SYS_wait4, -1, &raw, 0, NULL);
        if (reaped < 0) {
            if (errno == EINTR) continue;
            break;   // ECHILD: nothing left
        }
        if (reaped == command) status = raw;
    }
    return status;
}

PEBBLE_UNINSTRUMENTED
static void wait_for(pid_t pid, int *status) {
    while (syscall(SYS_wait4, pid, status, 0, NULL) < 0 && errno == EINTR) {}
}

PEBBLE_UNINSTRUMENTED __attribute__((noreturn))
static void reaper_main(const struct pebble_command_spec *spec) {
    // 1. Descriptors: everything first above 10, so that no dup over a source.
    int ends[4] = { spec->stdin_fd, spec->stdout_fd, spec->stderr_fd, spec->control_fd };
    int high[4];
    for (int i = 0; i < 4; i++) {
        high[i] = (int)syscall(SYS_fcntl, ends[i], F_DUPFD, 10);
        if (high[i] < 0) raw_exit(120);
    }
    for (int i = 0; i < 4; i++) {
        if (syscall(SYS_dup3, high[i], i, 0) != i) raw_exit(121);
    }
    int control = 3;
    syscall(SYS_fcntl, control, F_SETFD, FD_CLOEXEC);
    close_from(4);

    for (int signal = 1; signal < NSIG; signal++) {
        if (signal == SIGKILL || signal == SIGSTOP) continue;
        struct kernel_sigaction action = { .handler = SIG_DFL, .flags = 0, .restorer = NULL, .mask = 0 };
        syscall(SYS_rt_sigaction, signal, &action, NULL, sizeof action.mask);   // fails harmlessly for some
    }
    unsigned long all = ~0UL;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, sizeof all);

    // 2. Its own group; a subreaper.
    syscall(SYS_setpgid, 0, 0);
    unsigned long child_signal = 1UL << (SIGCHLD - 1);
    int signals = (int)syscall(SYS_signalfd4, -1, &child_signal, sizeof child_signal, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signals < 0 || syscall(SYS_prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
        send_report(control, PEBBLE_COMMAND_FAILED, 0, errno, PEBBLE_STAGE_REAPER);
        raw_exit(0);
    }

    // 3. The command.
    pid_t reaper = (pid_t)syscall(SYS_getpid);
    child_failure_errno = 0;
    // clone(CLONE_VM | CLONE_VFORK) on a stack of its own, as glibc's posix_spawn does: cheap (no
    // page tables copied), and the child's frames cannot clobber ours. Not vfork(): sanitizer
    // runtimes turn vfork into fork, whose handlers would wait on locks of threads that are not
    // in this process.
    struct command_start start = { .spec = spec, .reaper = reaper };
    pid_t command = libc_clone(command_entry, command_stack + sizeof command_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
    if (command < 0) {
        send_report(control, PEBBLE_COMMAND_FAILED, 0, errno, PEBBLE_STAGE_FORK);
        raw_exit(0);
    }
    if (child_failure_errno != 0) {
        int raw;
        wait_for(command, &raw);
        send_report(control, PEBBLE_COMMAND_FAILED, command, child_failure_errno, child_failure_stage);
        raw_exit(0);
    }
    send_report(control, PEBBLE_COMMAND_STARTED, command, 0, 0);
    syscall(SYS_close, 0);
    syscall(SYS_close, 1);
    syscall(SYS_close, 2);

    // 4. Wait for its exit or a word from the parent.
    int status = 0, reaped = 0;
    struct pollfd watched[2];
    watched[0].fd = control;
    watched[0].events = POLLIN;
    watched[1].fd = signals;
    watched[1].events = POLLIN;
    while (!reaped) {
        watched[0].revents = 0;
        watched[1].revents = 0;
        if (syscall(SYS_ppoll, watched, 2, NULL, NULL, 0) < 0) continue;
        if (watched[0].revents) break;   // a kill request, or the parent is gone
        if (!watched[1].revents) continue;
        struct signalfd_siginfo ignored;
        while (syscall(SYS_read, signals, &ignored, sizeof ignored) > 0) {}
        for (;;) {
            siginfo_t info;
            raw_zero(&info, sizeof info);
            if (syscall(SYS_waitid, P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT, NULL) != 0 || info.si_pid == 0) break;
            if (info.si_pid == command) {
                // Still a zombie here: its group id is still its own.
                syscall(SYS_kill, -command, SIGKILL);
                wait_for(command, &status);
                reaped = 1;
                break;
            }
            int raw;
            wait_for(info.si_pid, &raw);   // an adopted orphan
        }
    }

    // 5, 6.
    status = tear_down(command, reaped, status);
    // The whole tree is reaped: RUSAGE_CHILDREN is the CPU of all of it and the largest peak.
    // A peak is the command's own only above the reaper's (the pool's, copied at fork), which
    // exec carried into every ru_maxrss of the tree.
    struct rusage children, own;
    raw_zero(&children, sizeof children);
    raw_zero(&own, sizeof own);
    syscall(SYS_getrusage, RUSAGE_CHILDREN, &children);
    syscall(SYS_getrusage, RUSAGE_SELF, &own);
    send_report_with_usage(control, PEBBLE_COMMAND_EXITED, command, status, 0, &children, own.ru_maxrss);
    raw_exit(0);
}

pid_t pebble_command_spawn(const struct pebble_command_spec *spec) {
    pthread_once(&libc_clone_once, find_libc_clone);
    // No signal handler of this process may run in the reaper before it resets them.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t pid = _Fork();
    if (pid == 0) reaper_main(spec);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    errno = saved;
    return pid;
}
