#define _GNU_SOURCE
#include "pebble_shim.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

// MARK: - Worker entry
//
// A pool starts a worker by posix_spawn of /proc/self/exe with PEBBLE_WORKER_CHANNEL set. This
// constructor sees it before `main` and never returns, so no registration call or change to `main`
// is needed, in an executable or in a test bundle. It runs after swift_image_constructor in the
// same image, so Swift type metadata is registered and `_typeByName` finds the program's job types.

static int worker_channel = -1;

int pebble_worker_channel(void) { return worker_channel; }

/// The Swift worker loop (Pebble's WorkerMain.swift). Weak, so a binary without it just exits.
extern void pebble_worker_main(int channel) __attribute__((weak));

typedef void (*init_fn)(int, char **, char **);
extern init_fn __init_array_start[] __attribute__((weak, visibility("hidden")));
extern init_fn __init_array_end[] __attribute__((weak, visibility("hidden")));

static void pebble_worker_ctor(int argc, char **argv, char **envp);

/// With --static-swift-stdlib, Foundation's and Dispatch's constructors sit after ours in the same
/// .init_array; glibc would run them before `main`, and we never return, so run them now.
static void run_later_constructors(int argc, char **argv, char **envp) {
    int seen = 0;
    for (init_fn *f = __init_array_start; f && f < __init_array_end; f++) {
        if (seen) (*f)(argc, argv, envp);
        else if (*f == pebble_worker_ctor) seen = 1;
    }
}

static void *watch_parent(void *arg) {
    int parent_fd = (int)(intptr_t)arg;
    struct pollfd p = { .fd = parent_fd, .events = POLLIN };
    while (poll(&p, 1, -1) < 0 && errno == EINTR) {}
    // The parent is gone: take the whole process group (the job's own children too) with us.
    kill(0, SIGKILL);
    _exit(137);
    return NULL;
}

/// Dies with the parent. PR_SET_PDEATHSIG would kill only this process and leave the job's children
/// running, so a thread waits on a pidfd of the parent and kills the whole process group instead.
/// The getppid() check closes the race with a parent that died before the watch began. On kernels
/// without pidfd, PR_SET_PDEATHSIG is the fallback.
static void die_with_parent(pid_t parent) {
    int parent_fd = pebble_pidfd_open(parent);
    if (parent_fd < 0) prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(70);
    if (parent_fd < 0) return;
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&thread, &attr, watch_parent, (void *)(intptr_t)parent_fd) != 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
    }
    pthread_attr_destroy(&attr);
}

static void *run_worker_loop(void *arg) {
    pebble_worker_main((int)(intptr_t)arg);
    _exit(0);
    return NULL;
}

extern int _dispatch_get_main_queue_handle_4CF(void) __attribute__((weak));
extern void _dispatch_main_queue_callback_4CF(void *msg) __attribute__((weak));

/// Services the main queue forever on the main thread, as CoreFoundation's run loop would, so that
/// jobs may use DispatchQueue.main and @MainActor. dispatchMain() cannot be used from a constructor.
static void service_main_queue(void) {
    if (!_dispatch_get_main_queue_handle_4CF || !_dispatch_main_queue_callback_4CF) {
        for (;;) pause();
    }
    int handle = _dispatch_get_main_queue_handle_4CF();
    struct pollfd p = { .fd = handle, .events = POLLIN };
    for (;;) {
        if (poll(&p, 1, -1) < 0) continue;
        uint64_t count;
        (void)!read(handle, &count, sizeof count);
        _dispatch_main_queue_callback_4CF(NULL);
    }
}

__attribute__((constructor))
static void pebble_worker_ctor(int argc, char **argv, char **envp) {
    const char *channel = getenv("PEBBLE_WORKER_CHANNEL");
    if (!channel) return;
    worker_channel = atoi(channel);
    const char *parent = getenv("PEBBLE_PARENT_PID");
    pid_t parent_pid = parent ? (pid_t)atoi(parent) : 0;
    const char *name = getenv("PEBBLE_WORKER_NAME");
    if (name) prctl(PR_SET_NAME, name, 0, 0, 0);
    // Anything the job starts from this same binary must not become a worker too.
    unsetenv("PEBBLE_WORKER_CHANNEL");
    unsetenv("PEBBLE_PARENT_PID");
    unsetenv("PEBBLE_WORKER_NAME");
    if (parent_pid > 0) die_with_parent(parent_pid);
    run_later_constructors(argc, argv, envp);
    if (!pebble_worker_main) _exit(71);
    pthread_t thread;
    if (pthread_create(&thread, NULL, run_worker_loop, (void *)(intptr_t)worker_channel) != 0) _exit(72);
    service_main_queue();
}
