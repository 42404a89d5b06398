// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "entry.h"
#include "pebble_shim.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
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
    struct iovec io = { .iov_base = (void *)message, .iov_len = sizeof *message };
    char space[CMSG_SPACE(3 * sizeof(int))];
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
    do { sent = sendmsg(control, &header, MSG_NOSIGNAL); } while (sent < 0 && errno == EINTR);
    return sent < 0 ? -1 : 0;
}

static void set_buffer_sizes(int fd) {
    int size = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

/// In the forked child: drop the zygote's descriptors and signal state, take the channel on fd 3,
/// get a process group of its own, watch the pool, and become a worker.
static void become_worker(int channel, int counter, const struct pebble_zygote_request *request,
                          int control, int signals, int pool_pidfd, const sigset_t *mask) {
    prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    close(control);
    close(signals);
    sigprocmask(SIG_SETMASK, mask, NULL);
    setpgid(0, 0);
    if (channel != PEBBLE_CHANNEL_FD) {
        dup2(channel, PEBBLE_CHANNEL_FD);   // dup2 clears close-on-exec on the new descriptor
        close(channel);
    } else {
        fcntl(channel, F_SETFD, 0);
    }
    prctl(PR_SET_NAME, request->name[0] ? request->name : "pebble-worker", 0, 0, 0);
    if (pool_pidfd >= 0 && pebble_watch_pool(pool_pidfd) != 0) _exit(73);
    pebble_run_worker(PEBBLE_CHANNEL_FD, counter);
}

// Which children are workers (forked here) rather than orphans. The zygote is a child subreaper:
// when a worker dies, the processes its jobs started are reparented here instead of to init, even
// those in process groups of their own (Foundation's Process makes one per child), and are killed.
#define MAX_WORKERS 4096
static pid_t workers[MAX_WORKERS];

static void remember_worker(pid_t pid) {
    for (int i = 0; i < MAX_WORKERS; i++) {
        if (workers[i] == 0) { workers[i] = pid; return; }
    }
}

/// Forgets `pid`; returns whether it was a worker.
static int forget_worker(pid_t pid) {
    for (int i = 0; i < MAX_WORKERS; i++) {
        if (workers[i] == pid) { workers[i] = 0; return 1; }
    }
    return 0;
}

static int is_worker(pid_t pid) {
    for (int i = 0; i < MAX_WORKERS; i++) {
        if (workers[i] == pid) return 1;
    }
    return 0;
}

static void fork_worker(int control, const struct pebble_zygote_request *request,
                        int signals, int pool_pidfd, const sigset_t *mask) {
    struct pebble_zygote_message reply = { .type = PEBBLE_ZYGOTE_FAILED, .id = request->id, .pid = -1 };
    int ends[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
        reply.status = errno;
        send_message(control, &reply, NULL, 0);
        return;
    }
    set_buffer_sizes(ends[0]);
    set_buffer_sizes(ends[1]);
    int counter = pebble_create_start_counter();
    pid_t pid = fork();
    if (pid == 0) {
        close(ends[0]);
        become_worker(ends[1], counter, request, control, signals, pool_pidfd, mask);
    }
    close(ends[1]);
    if (pid < 0) {
        reply.status = errno;
        close(ends[0]);
        if (counter >= 0) close(counter);
        send_message(control, &reply, NULL, 0);
        return;
    }
    remember_worker(pid);
    // Opened here, before this process can reap the child, so the pidfd cannot name a recycled pid.
    int pidfd = pebble_pidfd_open(pid);
    if (pidfd < 0 || counter < 0) {
        // Without both, the pool could not watch this worker properly: it gets none.
        kill(pid, SIGKILL);
        reply.status = errno;
        send_message(control, &reply, NULL, 0);
    } else {
        int fds[3] = { ends[0], pidfd, counter };
        reply.type = PEBBLE_ZYGOTE_SPAWNED;
        reply.pid = pid;
        send_message(control, &reply, fds, 3);
    }
    close(ends[0]);
    if (pidfd >= 0) close(pidfd);
    if (counter >= 0) close(counter);
}

/// Kills every child that is not a worker: what dead workers' jobs left behind.
static void kill_orphans(void) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    FILE *children = fopen(path, "re");
    if (!children) return;
    int pid;
    while (fscanf(children, "%d", &pid) == 1) {
        if (!is_worker(pid)) kill(pid, SIGKILL);
    }
    fclose(children);
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
        int worker = is_worker(pid);
        if (worker) killpg(pid, SIGKILL);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        if (!worker) continue;
        forget_worker(pid);
        struct pebble_zygote_message exited = { .type = PEBBLE_ZYGOTE_EXITED, .pid = pid, .status = status };
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
    sigset_t child_signal, mask;
    sigemptyset(&child_signal);
    sigaddset(&child_signal, SIGCHLD);
    sigprocmask(SIG_BLOCK, &child_signal, &mask);
    int signals = signalfd(-1, &child_signal, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signals < 0) _exit(74);
    struct pollfd watched[3] = {
        { .fd = control, .events = POLLIN },
        { .fd = signals, .events = POLLIN },
        { .fd = pool_pidfd, .events = POLLIN },   // a negative fd is ignored by poll
    };
    for (;;) {
        if (poll(watched, 3, -1) < 0) continue;
        if (watched[2].revents) _exit(0);   // the pool is gone; each worker kills its own group
        if (watched[1].revents) {
            struct signalfd_siginfo drained[8];
            while (read(signals, drained, sizeof drained) > 0) {}
            reap_children(control);
        }
        if (watched[0].revents) {
            struct pebble_zygote_request request;
            ssize_t got = recv(control, &request, sizeof request, 0);
            if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) _exit(0);   // the pool closed it
            if (got == (ssize_t)sizeof request) fork_worker(control, &request, signals, pool_pidfd, &mask);
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
