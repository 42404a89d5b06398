// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "entry.h"
#include "pebble_shim.h"
#include "pebble_usage.h"
#include "zygote_table.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

// The zygote: a single-threaded copy of the program, started once, that forks a ready worker in
// about 0.3 ms where posix_spawn of a dynamically linked Swift program takes about 5 ms (mostly the
// dynamic loader). It never runs Swift code and never starts a thread: a fork of a process with
// threads could inherit a lock held by one of them. Messages on the control socket (SOCK_SEQPACKET,
// so each is one datagram) are `pebble_zygote_request` and `pebble_zygote_message`.

static int send_message(int control, const struct pebble_zygote_message *message, const int *fds, int fd_count) {
    return pebble_send_with_fds(control, message, sizeof *message, fds, fd_count) < 0 ? -1 : 0;
}

static void set_buffer_sizes(int fd) {
    int size = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

// Signals a job may send its parent by habit (a daemon's SIGHUP or SIGUSR1 "ready", a shell's
// SIGINT or SIGTERM to its process group, SIGPIPE from a closed pipe): the zygote ignores them all,
// since their default action would kill it. SIGKILL and SIGSTOP cannot be ignored; a stopped
// zygote only delays forks (the pool then waits for it like for any slow fork).
static const int stray_signals[] = {
    SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU,
    SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGPOLL, SIGPWR,
};
#define STRAY_SIGNAL_COUNT (sizeof stray_signals / sizeof stray_signals[0])

static void set_stray_signals(void (*action)(int)) {
    for (size_t i = 0; i < STRAY_SIGNAL_COUNT; i++) {
        struct sigaction disposition;
        memset(&disposition, 0, sizeof disposition);
        disposition.sa_handler = action;
        sigemptyset(&disposition.sa_mask);
        sigaction(stray_signals[i], &disposition, NULL);
    }
}

/// In the forked child: drop the zygote's descriptors and signal state (default dispositions, an
/// empty mask), take the channel on fd 3, get a process group of its own, watch the pool, and
/// become a worker.
static void become_worker(int channel, const struct pebble_zygote_request *request,
                          int control, int signals, int pool_pidfd) {
    prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    close(control);
    close(signals);
    set_stray_signals(SIG_DFL);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    setpgid(0, 0);
    if (channel != PEBBLE_CHANNEL_FD) {
        dup2(channel, PEBBLE_CHANNEL_FD);   // dup2 clears close-on-exec on the new descriptor
        close(channel);
    } else {
        fcntl(channel, F_SETFD, 0);
    }
    prctl(PR_SET_NAME, request->name[0] ? request->name : "pebble-worker", 0, 0, 0);
    if (pool_pidfd >= 0 && pebble_watch_pool(pool_pidfd) != 0) _exit(73);
    pebble_usage_note_forked();
    pebble_run_worker(PEBBLE_CHANNEL_FD);
}

// Which children are workers (forked here) rather than orphans. The zygote is a child subreaper:
// when a worker dies, the processes its jobs started are reparented here instead of to init, even
// those in process groups of their own (Foundation's Process makes one per child), and are killed.
static struct pebble_worker_table workers;

static void fork_worker(int control, const struct pebble_zygote_request *request,
                        int signals, int pool_pidfd) {
    struct pebble_zygote_message reply = { .type = PEBBLE_ZYGOTE_FAILED, .id = request->id, .pid = -1 };
    if (pebble_worker_table_reserve(&workers) != 0) {
        reply.status = ENOMEM;
        send_message(control, &reply, NULL, 0);
        return;
    }
    int ends[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
        reply.status = errno;
        send_message(control, &reply, NULL, 0);
        return;
    }
    set_buffer_sizes(ends[0]);
    set_buffer_sizes(ends[1]);
    pid_t pid = fork();
    if (pid == 0) {
        close(ends[0]);
        become_worker(ends[1], request, control, signals, pool_pidfd);
    }
    close(ends[1]);
    if (pid < 0) {
        reply.status = errno;
        close(ends[0]);
        send_message(control, &reply, NULL, 0);
        return;
    }
    pebble_worker_table_add(&workers, pid);
    // Opened here, before this process can reap the child, so the pidfd cannot name a recycled pid.
    int pidfd = pebble_pidfd_open(pid);
    if (pidfd < 0) {
        // Without it, the pool could not watch this worker properly: it gets none.
        kill(pid, SIGKILL);
        reply.status = errno;
        send_message(control, &reply, NULL, 0);
    } else {
        int fds[2] = { ends[0], pidfd };
        reply.type = PEBBLE_ZYGOTE_SPAWNED;
        reply.pid = pid;
        send_message(control, &reply, fds, 2);
    }
    close(ends[0]);
    if (pidfd >= 0) close(pidfd);
}

/// Kills every child that is not a worker (what dead workers' jobs left behind), or every child
/// with `all`. Each is killed with its process group, if it leads one: an unreaped child's pid
/// cannot have been reused, so neither can a group id equal to it.
static void kill_children(int all) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    FILE *children = fopen(path, "re");
    if (!children) return;
    int pid;
    while (fscanf(children, "%d", &pid) == 1) {
        if (all || !pebble_worker_table_contains(&workers, pid)) {
            killpg(pid, SIGKILL);
            kill(pid, SIGKILL);
        }
    }
    fclose(children);
}

static void kill_orphans(void) { kill_children(0); }

/// The pool is gone. Its workers kill their own groups, but what their jobs started in groups or
/// sessions of their own (Foundation's Process, daemons) is reparented here, the subreaper; were
/// the zygote to exit now, it would go on to init. So: kill every worker's group, then kill and
/// reap every child, adopted orphans included, until none is left; only then exit.
static void sweep_and_exit(void) __attribute__((noreturn));
static void sweep_and_exit(void) {
    for (size_t i = 0; i < workers.count; i++) {
        killpg(workers.pids[i], SIGKILL);   // unreaped, so the group id is still this worker's
        kill(workers.pids[i], SIGKILL);
    }
    for (;;) {
        kill_children(1);
        int status;
        pid_t pid = waitpid(-1, &status, __WALL);
        if (pid < 0 && errno == ECHILD) break;
    }
    _exit(0);
}

/// Reaps every child that exited. Before reaping a worker, the rest of its process group (the job's
/// own children) is killed: while the leader is a zombie its group id cannot have been reused. Then
/// orphans reparented here are killed too; they are reaped when their own exit comes in.
static void reap_children(int control) {
    for (;;) {
        siginfo_t info;
        memset(&info, 0, sizeof info);
        if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) break;
        pid_t pid = info.si_pid;
        bool worker = pebble_worker_table_contains(&workers, pid);
        if (worker) killpg(pid, SIGKILL);
        int status = 0;
        struct rusage own;
        memset(&own, 0, sizeof own);
        while (wait4(pid, &status, 0, &own) < 0 && errno == EINTR) {}
        if (!worker) continue;
        pebble_worker_table_remove(&workers, pid);
        struct pebble_zygote_message exited = {
            .type = PEBBLE_ZYGOTE_EXITED, .pid = pid, .status = status,
            .user_usec = (int64_t)own.ru_utime.tv_sec * 1000000 + own.ru_utime.tv_usec,
            .system_usec = (int64_t)own.ru_stime.tv_sec * 1000000 + own.ru_stime.tv_usec,
            .maxrss_kb = own.ru_maxrss,
        };
        send_message(control, &exited, NULL, 0);
    }
    kill_orphans();
}

static int thread_count(void) {
    DIR *tasks = opendir("/proc/self/task");
    if (!tasks) return -1;
    int count = 0;
    for (struct dirent *entry; (entry = readdir(tasks));) {
        if (entry->d_name[0] != '.') count++;
    }
    closedir(tasks);
    return count;
}

/// Swift warm-up of the zygote (WorkerMain.swift): first uses of the codecs and type lookups cost
/// about 1 ms in a new process; done once here, every forked worker inherits their caches.
extern void pebble_zygote_warm_up(void) __attribute__((weak));

void pebble_zygote_main(int control, int pool_pidfd) {
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    if (pebble_zygote_warm_up) pebble_zygote_warm_up();
    // A zygote with a second thread must not fork: exit, and the pool spawns workers directly.
    if (thread_count() != 1) _exit(75);
    set_stray_signals(SIG_IGN);
    sigset_t child_signal;
    sigemptyset(&child_signal);
    sigaddset(&child_signal, SIGCHLD);
    sigprocmask(SIG_BLOCK, &child_signal, NULL);
    int signals = signalfd(-1, &child_signal, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signals < 0) _exit(74);
    struct pollfd watched[3] = {
        { .fd = control, .events = POLLIN },
        { .fd = signals, .events = POLLIN },
        { .fd = pool_pidfd, .events = POLLIN },   // a negative fd is ignored by poll
    };
    for (;;) {
        if (poll(watched, 3, -1) < 0) continue;
        if (watched[2].revents) sweep_and_exit();   // the pool is gone
        if (watched[1].revents) {
            struct signalfd_siginfo drained[8];
            while (read(signals, drained, sizeof drained) > 0) {}
            reap_children(control);
        }
        if (watched[0].revents) {
            struct pebble_zygote_request request;
            ssize_t got = recv(control, &request, sizeof request, 0);
            if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) sweep_and_exit();   // the pool closed it
            if (got == (ssize_t)sizeof request) fork_worker(control, &request, signals, pool_pidfd);
        }
    }
}

ssize_t pebble_receive_with_fds(int socket, void *buffer, size_t length, int *fds, int max_fds, int *fd_count) {
    struct iovec io = { .iov_base = buffer, .iov_len = length };
    char space[CMSG_SPACE(4 * sizeof(int))];
    struct msghdr header = { .msg_iov = &io, .msg_iovlen = 1, .msg_control = space, .msg_controllen = sizeof space };
    *fd_count = 0;
    ssize_t got;
    do { got = recvmsg(socket, &header, MSG_CMSG_CLOEXEC | MSG_DONTWAIT); } while (got < 0 && errno == EINTR);
    if (got <= 0) return got;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&header); cmsg; cmsg = CMSG_NXTHDR(&header, cmsg)) {
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int received[4];
        memcpy(received, CMSG_DATA(cmsg), count * sizeof(int));
        for (int i = 0; i < count; i++) {
            if (*fd_count < max_fds) fds[(*fd_count)++] = received[i];
            else close(received[i]);
        }
    }
    return got;
}
