#ifndef PEBBLE_SHIM_H
#define PEBBLE_SHIM_H

#include <spawn.h>
#include <sys/types.h>

/// pidfd_open(2); -1 with errno on failure (kernels before 5.3).
int pebble_pidfd_open(pid_t pid);
/// pidfd_send_signal(2).
int pebble_pidfd_send_signal(int pidfd, int signal);
/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34), which Glibc's module map hides behind _GNU_SOURCE.
int pebble_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);
/// The number of CPUs this process may run on (sched_getaffinity), at least 1.
int pebble_usable_cpu_count(void);
/// The worker's channel descriptor if this process was started as a swift-pebble worker, else -1.
int pebble_worker_channel(void);
/// Names the calling thread (pthread_setname_np keeps 15 bytes).
void pebble_set_thread_name(const char *name);
/// The environment of this process (glibc's `environ`, which Swift 6 cannot read as a global).
char *const *pebble_environ(void);

#endif
