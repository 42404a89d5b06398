// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "entry.h"
#include "pebble_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

// A pool starts a helper process by posix_spawn of /proc/self/exe with a marker variable set: a
// worker (PEBBLE_WORKER_CHANNEL) or the zygote that forks workers (PEBBLE_ZYGOTE_CONTROL). This
// constructor sees the marker before `main` and never returns, so no registration call or change to
// `main` is needed, in an executable or in a test bundle. It runs after swift_image_constructor of
// the same image, so Swift type metadata is registered and `_typeByName` finds the job types.

/// The Swift worker loop (Pebble's WorkerMain.swift). Weak, so a binary without it just exits.
extern void pebble_worker_main(int channel) __attribute__((weak));

typedef void (*init_fn)(int, char **, char **);
extern init_fn __init_array_start[] __attribute__((weak, visibility("hidden")));
extern init_fn __init_array_end[] __attribute__((weak, visibility("hidden")));

static void pebble_entry_ctor(int argc, char **argv, char **envp);

/// With --static-swift-stdlib, Foundation's and Dispatch's constructors sit after ours in the same
/// .init_array; glibc would run them before `main`, and we never return, so run them now.
static void run_later_constructors(int argc, char **argv, char **envp) {
    int seen = 0;
    for (init_fn *f = __init_array_start; f && f < __init_array_end; f++) {
        if (seen) (*f)(argc, argv, envp);
        else if (*f == pebble_entry_ctor) seen = 1;
    }
}

static void *watch_pool(void *arg) {
    int pidfd = (int)(intptr_t)arg;
    struct pollfd p = { .fd = pidfd, .events = POLLIN };
    while (poll(&p, 1, -1) < 0 && errno == EINTR) {}
    // The pool is gone: take the whole process group (the job's own children too) along.
    kill(0, SIGKILL);
    _exit(137);
    return NULL;
}

/// PR_SET_PDEATHSIG would kill only this process and leave a job's children running, and it fires
/// when the spawning *thread* exits; a thread waiting on a pidfd of the pool process kills the whole
/// process group instead.
int pebble_watch_pool(int pidfd) {
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int status = pthread_create(&thread, &attr, watch_pool, (void *)(intptr_t)pidfd);
    pthread_attr_destroy(&attr);
    return status == 0 ? 0 : -1;
}

/// Opens a pidfd on the pool (our parent); a worker starts the watch thread on it, the zygote polls
/// it in its loop (it must stay single-threaded to fork). The getppid() check closes the race with a
/// pool that died before the pidfd was opened. Without pidfd (Linux < 5.3), PDEATHSIG.
static int watch_parent_pool(pid_t pool, int start_thread) {
    int pidfd = pebble_pidfd_open(pool);
    if (getppid() != pool) _exit(70);
    if (pidfd < 0 || (start_thread && pebble_watch_pool(pidfd) != 0)) prctl(PR_SET_PDEATHSIG, SIGKILL);
    return pidfd;
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
static void service_main_queue(void) __attribute__((noreturn));
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

void pebble_run_worker(int channel) {
    // Programs a job executes must not inherit the channel.
    fcntl(channel, F_SETFD, FD_CLOEXEC);
    if (!pebble_worker_main) _exit(71);
    pthread_t thread;
    if (pthread_create(&thread, NULL, run_worker_loop, (void *)(intptr_t)channel) != 0) _exit(72);
    service_main_queue();
}

__attribute__((constructor))
static void pebble_entry_ctor(int argc, char **argv, char **envp) {
    const char *worker = getenv("PEBBLE_WORKER_CHANNEL");
    const char *zygote = getenv("PEBBLE_ZYGOTE_CONTROL");
    if (!worker && !zygote) return;
    const char *parent = getenv("PEBBLE_PARENT_PID");
    pid_t pool = parent ? (pid_t)atoi(parent) : getppid();
    const char *name = getenv("PEBBLE_WORKER_NAME");
    if (name) prctl(PR_SET_NAME, name, 0, 0, 0);
    int fd = atoi(worker ? worker : zygote);
    // Anything a job starts from this same binary must not become a worker or a zygote too.
    unsetenv("PEBBLE_WORKER_CHANNEL");
    unsetenv("PEBBLE_ZYGOTE_CONTROL");
    unsetenv("PEBBLE_PARENT_PID");
    unsetenv("PEBBLE_WORKER_NAME");
    int pool_pidfd = watch_parent_pool(pool, !zygote);
    run_later_constructors(argc, argv, envp);
    if (zygote) pebble_zygote_main(fd, pool_pidfd);
    pebble_run_worker(fd);
}
