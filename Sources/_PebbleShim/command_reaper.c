// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "pebble_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

// ---------------------------------------------------------------------------------------------
// The per-command reaper.
//
// Why a reaper, and not posix_spawn of the command itself: the command's whole tree must die on a
// timeout, including descendants that left its process group with setsid. Only a child subreaper
// (PR_SET_CHILD_SUBREAPER) sees those: their orphans are reparented to it, not to PID 1. The
// user's own process must not become one, so each command gets a tiny reaper process between us
// and it.
//
// Why clone(CLONE_VM), and not fork: the reaper is a process of its own (its own pid, descriptor
// table, signal dispositions, working directory and process group) that shares this process's
// memory, as the child of posix_spawn does until it execs, except that the reaper never execs.
// A fork would copy the page tables of this (large, threaded) process, write-protect every page
// of it, and make every later write of ours to a page a copy-on-write fault until the reaper
// exits, then tear the copy down: that was most of a short command's cost. Sharing the memory,
// the reaper runs on a stack of its own and reads only a block of its own (`struct reaper_block`,
// one mapping per command: guard page, reaper stack, guard page, command stack, then a deep copy
// of the command's spec), which this process unmaps once the reaper is reaped.
//
// What sharing the memory costs: the kernel's OOM killer, when it picks this process, kills every
// process that shares its memory, reapers included (the command then dies of its PDEATHSIG, and
// descendants outside its group survive); so do core dumps on kernels before 5.16. A forked reaper
// was exposed too, in its way: its resident set counted the pages it shared with this process, so
// the OOM killer could pick it instead.
//
// What sharing the memory forbids: the reaper runs next to this process's threads, in their
// address space, with the thread pointer of the thread that started it (which may exit while the
// reaper still runs). So the reaper and the command's child before its exec run only the code
// below: no libc call (errno and every lock live in thread-local or shared state), no malloc,
// no Swift, no sanitizer instrumentation, no stack protector (its canary is read through the
// thread pointer), no compiler-generated memcpy or memset; they talk to the kernel through the
// raw system-call instruction only (`raw_syscall`, returning -errno), and are started by the raw
// clone system call (`raw_clone`), which runs the entry on the new stack.
//
// The reaper:
// 1. moves the pipes to 0, 1, 2 and the control socket to 3 (close-on-exec), closes every other
//    descriptor (those of the parent, of other commands being started), resets every signal
//    disposition to the default and blocks every signal (SIGCHLD is read from a signalfd; a
//    terminal's SIGINT or a stray SIGTERM cannot kill it and orphan the tree);
// 2. gets a process group of its own and becomes a child subreaper;
// 3. starts the command (clone CLONE_VM | CLONE_VFORK on the command stack), which takes a process
//    group of its own, PR_SET_PDEATHSIG(SIGKILL) (if the reaper is SIGKILLed), its limits and
//    directory, an empty signal mask, and tries each path;
// 4. reports STARTED, closes its copies of the pipes, and waits for the command's exit (signalfd)
//    or anything on the control socket: a kill request (one byte) or end-of-file (the parent died);
// 5. tears the tree down either way: kills the command's group while its leader is unreaped (the
//    group id cannot have been reused), then, until it has no child left, SIGKILLs every child it
//    has (read from /proc/self/task/<pid>/children; each is an unreaped child, so its pid is its
//    own) and reaps one — descendants of a killed child are reparented to it and killed next round;
// 6. reports EXITED with the command's own wait status, and exits 0.

#if defined(__has_attribute)
#if __has_attribute(disable_sanitizer_instrumentation)
#define PEBBLE_SANITIZER_FREE disable_sanitizer_instrumentation,
#endif
#if __has_attribute(no_stack_protector)
#define PEBBLE_NO_STACK_PROTECTOR no_stack_protector,
#endif
#endif
#ifndef PEBBLE_SANITIZER_FREE
#define PEBBLE_SANITIZER_FREE no_sanitize("thread", "address"),
#endif
#ifndef PEBBLE_NO_STACK_PROTECTOR
#define PEBBLE_NO_STACK_PROTECTOR
#endif
/// Code the reaper and the command's child run (see above).
#define REAPER_CODE __attribute__((PEBBLE_SANITIZER_FREE PEBBLE_NO_STACK_PROTECTOR noinline))

// ---------------------------------------------------------------------------------------------
// System calls without libc.

#if defined(__x86_64__)
REAPER_CODE
static long raw_syscall(long number, long a, long b, long c, long d, long e, long f) {
    long result;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return result;
}

/// clone(flags, stack) whose child calls `entry(argument)` on `stack_top` and exits with its
/// result; the parent gets the child's pid or -errno. No parent-tid, child-tid or TLS.
REAPER_CODE
static long raw_clone(unsigned long flags, void *stack_top, int (*entry)(void *), void *argument) {
    long result;
    register long r10 __asm__("r10") = 0;
    register long r8 __asm__("r8") = 0;
    register void *r12 __asm__("r12") = (void *)entry;
    register void *r13 __asm__("r13") = argument;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "mov %%r13, %%rdi\n\t"
                     "call *%%r12\n\t"
                     "mov %%eax, %%edi\n\t"
                     "mov %[exit], %%eax\n\t"
                     "syscall\n\t"
                     "hlt\n\t"
                     "1:\n\t"
                     : "=a"(result)
                     : "a"((long)SYS_clone), "D"(flags), "S"(stack_top), "d"(0L), "r"(r10), "r"(r8), "r"(r12), "r"(r13),
                       [exit] "i"(SYS_exit)
                     : "rcx", "r11", "memory");
    return result;
}
#elif defined(__aarch64__)
REAPER_CODE
static long raw_syscall(long number, long a, long b, long c, long d, long e, long f) {
    register long x8 __asm__("x8") = number;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
    return x0;
}

REAPER_CODE
static long raw_clone(unsigned long flags, void *stack_top, int (*entry)(void *), void *argument) {
    // arm64's clone: flags, stack, parent_tid, tls, child_tid.
    register long x8 __asm__("x8") = SYS_clone;
    register long x0 __asm__("x0") = (long)flags;
    register void *x1 __asm__("x1") = stack_top;
    register long x2 __asm__("x2") = 0;
    register long x3 __asm__("x3") = 0;
    register long x4 __asm__("x4") = 0;
    register void *x19 __asm__("x19") = (void *)entry;
    register void *x20 __asm__("x20") = argument;
    __asm__ volatile("svc #0\n\t"
                     "cbnz x0, 1f\n\t"
                     "mov x29, xzr\n\t"
                     "mov x30, xzr\n\t"
                     "mov x0, x20\n\t"
                     "blr x19\n\t"
                     "mov x8, %[exit]\n\t"
                     "svc #0\n\t"
                     "1:\n\t"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x19), "r"(x20), [exit] "i"(SYS_exit)
                     : "x30", "memory");
    return x0;
}
#else
#error "the command reaper needs raw system calls for this architecture (x86_64 and arm64 are supported)"
#endif

#define SYSCALL_ARGS(a, b, c, d, e, f, ...) (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f)
/// A system call with up to six arguments: its result, or -errno.
#define sys(number, ...) raw_syscall((number), SYSCALL_ARGS(__VA_ARGS__, 0, 0, 0, 0, 0, 0))

// ---------------------------------------------------------------------------------------------
// The reaper's memory.

enum {
    PAGE = 4096,
    REAPER_STACK = 64 * 1024,
    COMMAND_STACK = 32 * 1024,
    /// Where the block (struct reaper_block and the spec's copy) starts in the mapping.
    BLOCK_OFFSET = PAGE + REAPER_STACK + PAGE + COMMAND_STACK,
};

/// One command's reaper: what the reaper reads, after its stacks in the same mapping.
struct reaper_block {
    size_t mapping_size;
    struct pebble_command_spec spec;   // its pointers point into this mapping
    /// What the command's child writes before it exits on failure (it shares the reaper's memory).
    volatile int child_failure_errno;
    volatile int child_failure_stage;
    pid_t reaper;
};

static size_t string_size(const char *string) { return strlen(string) + 1; }

static size_t strings_size(char *const *strings, size_t *count) {
    size_t size = 0;
    for (*count = 0; strings[*count]; (*count)++) size += string_size(strings[*count]);
    return size;
}

/// Copies a NULL-terminated array of strings to `*pointers` / `*bytes`, advancing both.
static char **copy_strings(char *const *strings, size_t count, char ***pointers, char **bytes) {
    char **copy = *pointers;
    for (size_t i = 0; i < count; i++) {
        size_t size = string_size(strings[i]);
        memcpy(*bytes, strings[i], size);
        copy[i] = *bytes;
        *bytes += size;
    }
    copy[count] = NULL;
    *pointers += count + 1;
    return copy;
}

/// Maps the reaper's stacks and a deep copy of `spec`; NULL with errno.
static struct reaper_block *make_block(const struct pebble_command_spec *spec) {
    size_t argc, envc, pathc;
    size_t bytes = strings_size(spec->argv, &argc) + strings_size(spec->envp, &envc) + strings_size(spec->paths, &pathc);
    size_t directory = spec->directory ? string_size(spec->directory) : 0;
    size_t limits = (size_t)spec->limit_count * sizeof(struct pebble_rlimit);
    size_t pointers = (argc + envc + pathc + 3) * sizeof(char *);
    size_t size = BLOCK_OFFSET + sizeof(struct reaper_block) + limits + pointers + bytes + directory;
    size = (size + PAGE - 1) / PAGE * PAGE;
    char *mapping = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mapping == MAP_FAILED) return NULL;
    // Guard pages below each stack: an overflow faults rather than writing over something else.
    mprotect(mapping, PAGE, PROT_NONE);
    mprotect(mapping + PAGE + REAPER_STACK, PAGE, PROT_NONE);

    struct reaper_block *block = (struct reaper_block *)(mapping + BLOCK_OFFSET);
    block->mapping_size = size;
    char *cursor = (char *)(block + 1);
    struct pebble_rlimit *limit_copy = (struct pebble_rlimit *)cursor;
    if (limits) memcpy(limit_copy, spec->limits, limits);
    cursor += limits;
    char **pointer_area = (char **)cursor;
    char *byte_area = cursor + pointers;
    block->spec = *spec;
    block->spec.limits = limits ? limit_copy : NULL;
    block->spec.argv = copy_strings(spec->argv, argc, &pointer_area, &byte_area);
    block->spec.envp = copy_strings(spec->envp, envc, &pointer_area, &byte_area);
    block->spec.paths = copy_strings(spec->paths, pathc, &pointer_area, &byte_area);
    if (spec->directory) {
        memcpy(byte_area, spec->directory, directory);
        block->spec.directory = byte_area;
    }
    return block;
}

static char *mapping_of(struct reaper_block *block) { return (char *)block - BLOCK_OFFSET; }

void pebble_command_release(void *reaper_memory) {
    if (!reaper_memory) return;
    struct reaper_block *block = reaper_memory;
    munmap(mapping_of(block), block->mapping_size);
}

// ---------------------------------------------------------------------------------------------
// The reaper's code.

/// The kernel's struct sigaction for rt_sigaction (not glibc's): enough to set SIG_DFL.
struct kernel_sigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    unsigned long mask;
};

REAPER_CODE __attribute__((noreturn))
static void raw_exit(int code) {
    for (;;) sys(SYS_exit_group, code);
}

REAPER_CODE
static void raw_zero(void *memory, size_t length) {
    volatile char *bytes = memory;
    for (size_t i = 0; i < length; i++) bytes[i] = 0;
}

REAPER_CODE
static long long microseconds(struct timeval time) { return (long long)time.tv_sec * 1000000 + time.tv_usec; }

REAPER_CODE
static void send_report_with_usage(int control, int type, int pid, int value, int stage,
                                   const struct rusage *children, long carried_kb) {
    struct pebble_command_message message;
    raw_zero(&message, sizeof message);
    message.type = type;
    if (children) {
        message.user_usec = microseconds(children->ru_utime);
        message.system_usec = microseconds(children->ru_stime);
        message.maxrss_kb = children->ru_maxrss > carried_kb ? children->ru_maxrss : -1;
    }
    message.pid = pid;
    message.value = value;
    message.stage = stage;
    while (sys(SYS_sendto, control, &message, sizeof message, MSG_NOSIGNAL, 0, 0) == -EINTR) {}
}

REAPER_CODE
static void send_report(int control, int type, int pid, int value, int stage) {
    send_report_with_usage(control, type, pid, value, stage, NULL, 0);
}

REAPER_CODE
static void close_from(int first) {
    if (sys(SYS_close_range, (unsigned)first, ~0U, 0) == 0) return;
    struct rlimit limit;
    int last = sys(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, &limit) == 0 && limit.rlim_cur < 65536 ? (int)limit.rlim_cur : 65536;
    for (int fd = first; fd < last; fd++) sys(SYS_close, fd);
}

REAPER_CODE
static char *format_int(char *end, int value) {
    *--end = 0;
    do { *--end = (char)('0' + value % 10); value /= 10; } while (value);
    return end;
}

/// SIGKILLs every child of this (single-threaded) process; returns how many it found.
REAPER_CODE
static int kill_children(void) {
    // Built byte by byte: an initialised array could become a call to a libc (or sanitizer) memcpy.
    char number[16];
    char path[64];
    size_t length = 0;
    for (const char *head = "/proc/self/task/"; *head; head++) path[length++] = *head;
    for (const char *pid = format_int(number + sizeof number, (int)sys(SYS_getpid, 0)); *pid; pid++) path[length++] = *pid;
    for (const char *tail = "/children"; *tail; tail++) path[length++] = *tail;
    path[length] = 0;
    int fd = (int)sys(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int found = 0;
    char buffer[4096];
    int current = 0, in_number = 0;
    for (;;) {
        long got = sys(SYS_read, fd, buffer, sizeof buffer);
        if (got == -EINTR) continue;
        if (got <= 0) break;
        for (long i = 0; i < got; i++) {
            char c = buffer[i];
            if (c >= '0' && c <= '9') {
                current = current * 10 + (c - '0');
                in_number = 1;
            } else if (in_number) {
                sys(SYS_kill, current, SIGKILL);
                found++;
                current = 0;
                in_number = 0;
            }
        }
    }
    if (in_number) { sys(SYS_kill, current, SIGKILL); found++; }
    sys(SYS_close, fd);
    return found;
}

REAPER_CODE __attribute__((noreturn))
static void fail_command(struct reaper_block *block, int stage, long error) {
    block->child_failure_stage = stage;
    block->child_failure_errno = (int)-error;
    raw_exit(127);
}

/// The command's child, in the reaper's memory until execve (CLONE_VM | CLONE_VFORK).
REAPER_CODE
static int command_entry(void *argument) {
    struct reaper_block *block = argument;
    const struct pebble_command_spec *spec = &block->spec;
    sys(SYS_setpgid, 0, 0);
    sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (sys(SYS_getppid, 0) != block->reaper) raw_exit(127);
    for (int i = 0; i < spec->limit_count; i++) {
        struct rlimit limit;
        if (sys(SYS_prlimit64, 0, spec->limits[i].resource, 0, &limit) != 0) limit.rlim_max = RLIM_INFINITY;
        rlim_t value = (rlim_t)spec->limits[i].value;
        if (limit.rlim_max != RLIM_INFINITY && value > limit.rlim_max) value = limit.rlim_max;
        limit.rlim_cur = value;
        limit.rlim_max = value;
        long result = sys(SYS_prlimit64, 0, spec->limits[i].resource, &limit, 0);
        if (result != 0) fail_command(block, PEBBLE_STAGE_LIMITS, result);
    }
    if (spec->directory) {
        long result = sys(SYS_chdir, spec->directory);
        if (result != 0) fail_command(block, PEBBLE_STAGE_DIRECTORY, result);
    }
    unsigned long none = 0;
    sys(SYS_rt_sigprocmask, SIG_SETMASK, &none, 0, sizeof none);
    long failure = -ENOENT;
    for (char *const *path = spec->paths; *path; path++) {
        long result = sys(SYS_execve, *path, spec->argv, spec->envp);
        // As execvp: a missing or non-directory entry moves on; a permission error is remembered.
        if (result == -EACCES) failure = result;
        else if (result != -ENOENT && result != -ENOTDIR && result != -ENAMETOOLONG) { failure = result; break; }
    }
    fail_command(block, PEBBLE_STAGE_EXEC, failure);
}

/// Kills the command's group (while `command` is unreaped), then every descendant; returns the
/// command's wait status (kept if it was reaped already).
REAPER_CODE
static int tear_down(pid_t command, int command_reaped, int status) {
    if (!command_reaped) sys(SYS_kill, -command, SIGKILL);
    for (;;) {
        kill_children();
        int raw = 0;
        long reaped = sys(SYS_wait4, -1, &raw, 0, 0);
        if (reaped == -EINTR) continue;
        if (reaped < 0) break;   // ECHILD: nothing left
        if (reaped == command) status = raw;
    }
    return status;
}

REAPER_CODE
static void wait_for(pid_t pid, int *status) {
    while (sys(SYS_wait4, pid, status, 0, 0) == -EINTR) {}
}

/// Step 1: the descriptors where the command expects them, everything else closed, signals default and blocked.
REAPER_CODE
static void prepare_descriptors_and_signals(const struct pebble_command_spec *spec) {
    // Everything first above 10, so that no dup lands over a source.
    int ends[4], high[4];
    ends[0] = spec->stdin_fd;
    ends[1] = spec->stdout_fd;
    ends[2] = spec->stderr_fd;
    ends[3] = spec->control_fd;
    for (int i = 0; i < 4; i++) {
        high[i] = (int)sys(SYS_fcntl, ends[i], F_DUPFD, 10);
        if (high[i] < 0) raw_exit(120);
    }
    for (int i = 0; i < 4; i++) {
        if (sys(SYS_dup3, high[i], i, 0) != i) raw_exit(121);
    }
    sys(SYS_fcntl, 3, F_SETFD, FD_CLOEXEC);
    close_from(4);
    for (int signal = 1; signal < NSIG; signal++) {
        if (signal == SIGKILL || signal == SIGSTOP) continue;
        struct kernel_sigaction action;
        action.handler = SIG_DFL;
        action.flags = 0;
        action.restorer = NULL;
        action.mask = 0;
        sys(SYS_rt_sigaction, signal, &action, 0, sizeof action.mask);   // fails harmlessly for some
    }
    unsigned long all = ~0UL;
    sys(SYS_rt_sigprocmask, SIG_SETMASK, &all, 0, sizeof all);
}

/// Step 4: waits for the command's exit (reaping adopted orphans meanwhile) or a word on the
/// control socket; returns whether the command was reaped, with its status.
REAPER_CODE
static int wait_for_exit_or_kill(int control, int signals, pid_t command, int *status) {
    struct pollfd watched[2];
    watched[0].fd = control;
    watched[0].events = POLLIN;
    watched[1].fd = signals;
    watched[1].events = POLLIN;
    for (;;) {
        watched[0].revents = 0;
        watched[1].revents = 0;
        if (sys(SYS_ppoll, watched, 2, 0, 0, 0) < 0) continue;
        if (watched[0].revents) return 0;   // a kill request, or the parent is gone
        if (!watched[1].revents) continue;
        struct signalfd_siginfo ignored;
        while (sys(SYS_read, signals, &ignored, sizeof ignored) > 0) {}
        for (;;) {
            siginfo_t info;
            raw_zero(&info, sizeof info);
            if (sys(SYS_waitid, P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT, 0) != 0 || info.si_pid == 0) break;
            if (info.si_pid == command) {
                // Still a zombie here: its group id is still its own.
                sys(SYS_kill, -command, SIGKILL);
                wait_for(command, status);
                return 1;
            }
            int raw;
            wait_for(info.si_pid, &raw);   // an adopted orphan
        }
    }
}

REAPER_CODE
static int reaper_main(void *argument) {
    struct reaper_block *block = argument;
    const struct pebble_command_spec *spec = &block->spec;
    prepare_descriptors_and_signals(spec);
    int control = 3;

    // 2. Its own group; a subreaper.
    sys(SYS_setpgid, 0, 0);
    unsigned long child_signal = 1UL << (SIGCHLD - 1);
    long signals = sys(SYS_signalfd4, -1, &child_signal, sizeof child_signal, SFD_CLOEXEC | SFD_NONBLOCK);
    long subreaper = signals < 0 ? signals : sys(SYS_prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    if (subreaper != 0) {
        send_report(control, PEBBLE_COMMAND_FAILED, 0, (int)-subreaper, PEBBLE_STAGE_REAPER);
        raw_exit(0);
    }

    // 3. The command, on a stack of its own in this memory until it execs: cheap (no page tables
    // copied), and its frames cannot clobber ours.
    block->reaper = (pid_t)sys(SYS_getpid, 0);
    block->child_failure_errno = 0;
    char *command_stack_top = (char *)block;
    long command = raw_clone(CLONE_VM | CLONE_VFORK | SIGCHLD, command_stack_top, command_entry, block);
    if (command < 0) {
        send_report(control, PEBBLE_COMMAND_FAILED, 0, (int)-command, PEBBLE_STAGE_FORK);
        raw_exit(0);
    }
    if (block->child_failure_errno != 0) {
        int raw;
        wait_for((pid_t)command, &raw);
        send_report(control, PEBBLE_COMMAND_FAILED, (int)command, block->child_failure_errno, block->child_failure_stage);
        raw_exit(0);
    }
    // What exec carried into the command's ru_maxrss: the peak of this memory (this process's) at
    // the exec, just done; read now, not at the end, as this process may grow meanwhile.
    struct rusage own;
    raw_zero(&own, sizeof own);
    sys(SYS_getrusage, RUSAGE_SELF, &own);
    send_report(control, PEBBLE_COMMAND_STARTED, (int)command, 0, 0);
    sys(SYS_close, 0);
    sys(SYS_close, 1);
    sys(SYS_close, 2);

    // 4, 5.
    int status = 0;
    int reaped = wait_for_exit_or_kill(control, (int)signals, (pid_t)command, &status);
    status = tear_down((pid_t)command, reaped, status);

    // 6. The whole tree is reaped: RUSAGE_CHILDREN is the CPU of all of it and the largest peak.
    // A peak is the command's own only above the one exec carried into every ru_maxrss of the tree.
    struct rusage children;
    raw_zero(&children, sizeof children);
    sys(SYS_getrusage, RUSAGE_CHILDREN, &children);
    send_report_with_usage(control, PEBBLE_COMMAND_EXITED, (int)command, status, 0, &children, own.ru_maxrss);
    raw_exit(0);
}

pid_t pebble_command_spawn(const struct pebble_command_spec *spec, void *_Nullable *_Nonnull reaper_memory) {
    *reaper_memory = NULL;
    struct reaper_block *block = make_block(spec);
    if (!block) return -1;
    // No signal handler of this process may run in the reaper before it resets them: the reaper
    // starts with every signal blocked (the mask is inherited), and this thread gets its own back.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    char *reaper_stack_top = mapping_of(block) + PAGE + REAPER_STACK;
    long pid = raw_clone(CLONE_VM | SIGCHLD, reaper_stack_top, reaper_main, block);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (pid < 0) {
        pebble_command_release(block);
        errno = (int)-pid;
        return -1;
    }
    *reaper_memory = block;
    return (pid_t)pid;
}
