// SPDX-License-Identifier: Apache-2.0
#ifndef PEBBLE_SHIM_H
#define PEBBLE_SHIM_H

#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <sys/types.h>
#include <sys/socket.h>

/// pidfd_open(2); -1 with errno on failure (kernels before 5.3).
int pebble_pidfd_open(pid_t pid);
/// pidfd_send_signal(2).
int pebble_pidfd_send_signal(int pidfd, int signal);
/// The wait status of the exited process behind `pidfd`, even when another process reaped it
/// (PIDFD_GET_INFO, Linux 6.15). 0 on success, -1 when the kernel cannot tell.
int pebble_pidfd_exit_status(int pidfd, int *_Nonnull status);
/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34), which Glibc's module map hides behind _GNU_SOURCE.
int pebble_spawn_addclosefrom(posix_spawn_file_actions_t *_Nonnull actions, int from);
/// The number of CPUs this process may run on (sched_getaffinity), at least 1.
int pebble_usable_cpu_count(void);

/// A pool's task board: a shared memfd with one 64-bit word per slot, shared by the pool and all its
/// workers. A word is `sequence << 16 | worker << 3 | state`: the sequence names one offering of one
/// task (a claim aimed at an earlier occupant of the slot cannot succeed), the worker is the index of
/// the worker that took it. The pool offers; a worker takes (offered → taken) before running the task
/// and finishes (taken → done) before sending its outcome; the pool revokes (offered → revoked) or
/// stops (taken → stopping, then kills that worker). Each transition is one compare-and-swap, so
/// exactly one of take and revoke, and exactly one of finish and stop, succeeds. After the slots'
/// words, one word per slot holds when its task was taken (`CLOCK_MONOTONIC` nanoseconds), written
/// by the worker that took it, for the pool's latency summaries.
#define PEBBLE_TASK_BOARD_BYTES (128 * 1024)
#define PEBBLE_TASK_BOARD_SLOTS 8192
#define PEBBLE_TASK_BOARD_WORKERS 8192
enum { PEBBLE_CLAIM_OFFERED = 0, PEBBLE_CLAIM_TAKEN = 1, PEBBLE_CLAIM_REVOKED = 2, PEBBLE_CLAIM_DONE = 3,
       PEBBLE_CLAIM_STOPPING = 4 };
/// A new task board (memfd, close-on-exec); -1 on failure.
int pebble_create_task_board(void);
/// Maps the board behind `fd` (which stays open); NULL on failure.
uint64_t *_Nullable pebble_map_task_board(int fd);
void pebble_unmap_task_board(uint64_t *_Nullable board);
/// Publishes task `sequence` as offered in `slot` (before its message is sent).
void pebble_claim_offer(uint64_t *_Nullable board, int slot, uint64_t sequence);
/// Worker `worker` takes task `sequence` in `slot`; false if it was revoked (or the slot moved on).
bool pebble_claim_take(uint64_t *_Nullable board, int slot, uint64_t sequence, int worker);
/// When the task in `slot` was taken (`CLOCK_MONOTONIC` nanoseconds; written by its taker, so a
/// value the pool must bound).
uint64_t pebble_claim_taken_at(const uint64_t *_Nullable board, int slot);
/// Worker `worker` finished task `sequence`; false when the pool is stopping it for that task.
bool pebble_claim_finish(uint64_t *_Nullable board, int slot, uint64_t sequence, int worker);
/// The pool revokes task `sequence` in `slot`; false if a worker took it.
bool pebble_claim_revoke(uint64_t *_Nullable board, int slot, uint64_t sequence);
/// The pool claims the kill of worker `worker` for task `sequence`; false if the worker finished it.
bool pebble_claim_stop(uint64_t *_Nullable board, int slot, uint64_t sequence, int worker);
/// `worker << 3 | state` of task `sequence` in `slot`, or -1 when the slot holds another task.
int pebble_claim_read(const uint64_t *_Nullable board, int slot, uint64_t sequence);

/// One message for a pool's task feed: `length` bytes at `bytes`, one SOCK_SEQPACKET record.
struct pebble_feed_message {
    const void *_Nullable bytes;
    size_t length;
};
/// Sends `count` messages in order without blocking (sendmmsg). Returns how many went out (fewer
/// when the socket is full), or -1 when the socket is broken.
int pebble_feed_send(int fd, const struct pebble_feed_message *_Nonnull messages, int count);
/// Receives one feed message into `buffer`. Returns its size; 0 at end of file; -1 on error (errno
/// EAGAIN: empty, with `nonblocking`); -2 when the message was larger than `capacity`.
ssize_t pebble_feed_receive(int fd, void *_Nullable buffer, size_t capacity, bool nonblocking);
/// A worker's watch on the feed: an epoll set holding it with EPOLLIN | EPOLLEXCLUSIVE, so a new
/// message wakes one waiting worker, the first registered of those waiting, where a blocking
/// receive wakes the one that waited longest. Returns the epoll descriptor, or -1 (no
/// EPOLLEXCLUSIVE before Linux 4.5: the worker then blocks in its receive).
int pebble_feed_watch(int fd);
/// Waits (epoll_wait, no timeout) until the watched feed may hold a message or is closed; another
/// worker may have taken the message by then. 0, or -1 on error.
int pebble_feed_wait(int watch);
/// Sends every byte of `count` buffers in order (sendmsg, MSG_NOSIGNAL, blocking); updates `iov`
/// as it goes. 0, or -1 when the peer is gone.
int pebble_send_frames(int fd, struct iovec *_Nonnull iov, int count);
/// Sends the bytes of `count` buffers in order from byte `skip` on, without blocking (sendmsg,
/// MSG_DONTWAIT | MSG_NOSIGNAL), until the socket is full or all went out; updates `iov`. Returns
/// how many bytes went out (0 when the socket is full), or -1 with errno when none could be sent
/// for another reason (EPIPE: the peer is gone).
ssize_t pebble_send_vectors_nonblocking(int fd, struct iovec *_Nonnull iov, int count, size_t skip);
/// Names the calling thread (pthread_setname_np keeps 15 bytes).
void pebble_set_thread_name(const char *_Nonnull name);
/// The environment of this process (glibc's `environ`, which Swift 6 cannot read as a global).
char *_Nullable const *_Nullable pebble_environ(void);

/// A request from the pool to the zygote: fork a worker named `name` (may be empty).
struct pebble_zygote_request {
    uint32_t id;
    char name[16];
};

enum { PEBBLE_ZYGOTE_SPAWNED = 1, PEBBLE_ZYGOTE_EXITED = 2, PEBBLE_ZYGOTE_FAILED = 3 };

/// A message from the zygote: SPAWNED (with the channel and a pidfd attached), EXITED (a worker's
/// wait status), or FAILED (errno in `status`).
struct pebble_zygote_message {
    uint32_t type;
    uint32_t id;
    pid_t pid;
    int status;
    /// EXITED: the worker's own rusage from `wait4` (ru_utime, ru_stime in microseconds, ru_maxrss in KiB).
    int64_t user_usec;
    int64_t system_usec;
    int64_t maxrss_kb;
};

/// recvmsg(MSG_DONTWAIT | MSG_CMSG_CLOEXEC) of one message and the descriptors attached to it.
ssize_t pebble_receive_with_fds(int socket, void *_Nullable buffer, size_t length, int *_Nonnull fds, int max_fds, int *_Nonnull fd_count);

/// Resources a worker limits on itself (limits.c): RLIMIT_AS, RLIMIT_NOFILE, RLIMIT_FSIZE.
enum { PEBBLE_LIMIT_ADDRESS_SPACE = 1, PEBBLE_LIMIT_OPEN_FILES = 2, PEBBLE_LIMIT_FILE_SIZE = 3 };
/// Sets the soft and hard limit of `which` to `value` (at most the inherited hard limit). 0 or -1.
int pebble_limit_resource(int which, uint64_t value);
/// Sets the soft RLIMIT_CPU to the CPU time this process used so far plus `nanoseconds`, rounded up
/// to whole seconds: the next task may use at least that much CPU before SIGXCPU. 0 or -1.
int pebble_limit_cpu_from_now(int64_t nanoseconds);
/// This process's resident set in bytes (/proc/self/statm), -1 if unknown.
int64_t pebble_resident_bytes(void);

/// The most descriptors passed with one message (descriptors.c).
#define PEBBLE_MAX_PASSED_FDS 4
/// One blocking sendmsg(MSG_NOSIGNAL) of `buffer` with `fds` attached (SCM_RIGHTS); the bytes sent, or -1.
ssize_t pebble_send_with_fds(int socket, const void *_Nullable buffer, size_t length, const int *_Nullable fds, int fd_count);
/// Blocking recvmsg(MSG_CMSG_CLOEXEC) until `length` bytes arrived, collecting the descriptors
/// attached to them (beyond `max_fds` they are closed). The bytes read (less at end of file), or -1.
ssize_t pebble_receive_exactly_with_fds(int socket, void *_Nullable buffer, size_t length, int *_Nonnull fds, int max_fds, int *_Nonnull fd_count);
/// A pipe for a worker's captured output: both ends close-on-exec, the read end non-blocking. 0 or -1.
int pebble_capture_pipe(int ends[_Nonnull 2]);
/// fflush(stdout), which Swift 6 cannot reach (the global is not concurrency-safe).
void pebble_flush_stdout(void);

/// Reaps the exited process behind `pidfd` (waitid P_PIDFD, Linux 5.4; by `pid` on older kernels
/// or without a pidfd) if it is a zombie child of this process, without blocking; with
/// `kill_group`, first SIGKILLs its process group (while the zombie pins the group id). Returns 1
/// and its wait status when it was reaped here; 0 when it is not this process's to reap (another
/// process reaped it, or SIGCHLD is ignored and the kernel did).
/// A reaped child's own rusage: ru_utime and ru_stime in microseconds, ru_maxrss in KiB.
struct pebble_rusage {
    int64_t user_usec;
    int64_t system_usec;
    int64_t maxrss_kb;
};
/// Reaps `pid` if it is an exited child of ours: 1 with its wait status in `status` and, when
/// `usage` is not NULL, its rusage (from the raw waitid syscall's fifth argument); 0 if it is not
/// ours to reap.
int pebble_reap_exited(pid_t pid, int pidfd, int kill_group, int *_Nonnull status, struct pebble_rusage *_Nullable usage);

/// write(2) that never raises SIGPIPE in this process: the signal is blocked on the calling thread
/// during the write and a SIGPIPE it caused is consumed. Returns what write returns (EPIPE for a
/// closed reader).
ssize_t pebble_write_nosigpipe(int fd, const void *_Nullable buffer, size_t length);

/// pipe2(O_CLOEXEC), which Glibc's module map hides behind _GNU_SOURCE.
int pebble_pipe_cloexec(int fds[_Nonnull 2]);

/// One resource limit for a command (setrlimit in its child before exec).
struct pebble_rlimit {
    int resource;
    uint64_t value;
};

/// What `pebble_command_spawn` starts. It is copied: nothing it points to is read after the call.
struct pebble_command_spec {
    char *_Nullable const *_Nonnull argv;          // NULL-terminated
    char *_Nullable const *_Nonnull envp;          // NULL-terminated
    char *_Nullable const *_Nonnull paths;         // the executable paths to try in order (PATH lookup done), NULL-terminated
    const char *_Nullable directory;      // NULL: this process's working directory
    const struct pebble_rlimit *_Nullable limits;
    int limit_count;
    int stdin_fd, stdout_fd, stderr_fd;   // the child's ends of its pipes
    int control_fd;             // the reaper's end of the control socket (SOCK_SEQPACKET)
};

enum { PEBBLE_COMMAND_STARTED = 1, PEBBLE_COMMAND_EXITED = 2, PEBBLE_COMMAND_FAILED = 3 };
enum { PEBBLE_STAGE_EXEC = 0, PEBBLE_STAGE_DIRECTORY = 1, PEBBLE_STAGE_LIMITS = 2, PEBBLE_STAGE_FORK = 3, PEBBLE_STAGE_REAPER = 4 };

/// A message from a command's reaper: STARTED (`pid`), EXITED (the command's wait status in
/// `value`, and the reaper's RUSAGE_CHILDREN once the tree is reaped: the CPU time of the command
/// and of every descendant it reaped in microseconds, and the largest of their peaks in KiB, -1
/// when it does not exceed the peak exec carried over from the reaper), FAILED (errno in `value`,
/// where in `stage`). EXITED and FAILED are the last.
struct pebble_command_message {
    int type;
    pid_t pid;
    int value;
    int stage;
    int64_t user_usec;
    int64_t system_usec;
    int64_t maxrss_kb;
};

/// Starts the reaper of one command (see command_reaper.c) and returns its pid, or -1 with errno.
/// `*reaper_memory` receives the reaper's stacks and its copy of `spec`: pass it to
/// `pebble_command_release` once the reaper has exited, never before (it runs on that memory).
pid_t pebble_command_spawn(const struct pebble_command_spec *_Nonnull spec, void *_Nullable *_Nonnull reaper_memory);
/// Unmaps what `pebble_command_spawn` mapped for a reaper that has exited; NULL does nothing.
void pebble_command_release(void *_Nullable reaper_memory);

/// The words blocked future waiters sleep on (futures/FutureCore.swift, futex.c): a seq_cst load,
/// a seq_cst increment followed by a wake of every thread sleeping on the word, and a sleep while
/// the word still holds `expected`, for at most `timeout_ns` (negative: no limit). Returns 0, or
/// the errno of the futex call (EAGAIN: the word had changed; ETIMEDOUT; EINTR).
uint32_t pebble_word_load(uint32_t *_Nonnull word);
void pebble_word_bump_and_wake(uint32_t *_Nonnull word);
int pebble_word_wait(uint32_t *_Nonnull word, uint32_t expected, int64_t timeout_ns);

// The event loop's epoll set (event_loop.c).
enum { PEBBLE_EPOLL_ADD = 1, PEBBLE_EPOLL_MODIFY = 2, PEBBLE_EPOLL_REMOVE = 3 };
enum {
    PEBBLE_EPOLL_IN = 0x001, PEBBLE_EPOLL_OUT = 0x004, PEBBLE_EPOLL_ERR = 0x008, PEBBLE_EPOLL_HUP = 0x010,
    PEBBLE_EPOLL_RDHUP = 0x2000, PEBBLE_EPOLL_ONESHOT = 0x40000000
};
/// epoll_create1(EPOLL_CLOEXEC).
int pebble_epoll_create(void);
/// epoll_ctl with `events` and the 64-bit `token` as the event's data (retried on EINTR); 0 or -1.
int pebble_epoll_control(int epoll, int operation, int fd, uint32_t events, uint64_t token);
/// epoll_wait for at most `capacity` (up to 64) events, their masks and tokens into the arrays;
/// the count, or -1 (EINTR is retried).
int pebble_epoll_wait(int epoll, uint32_t *_Nonnull events, uint64_t *_Nonnull tokens, int capacity, int timeout);

#endif
