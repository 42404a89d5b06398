// SPDX-License-Identifier: Apache-2.0
// Internal to _PebbleShim: what the worker entry and the zygote share.
#ifndef PEBBLE_ENTRY_H
#define PEBBLE_ENTRY_H

#include <signal.h>
#include <sys/types.h>

/// The descriptor every worker finds its channel on.
#define PEBBLE_CHANNEL_FD 3

/// Starts a thread that kills this process's whole group when the process behind `pidfd` exits.
/// Returns 0, or -1 if the thread could not start.
int pebble_watch_pool(int pidfd);

/// Runs the worker: the Swift loop on a thread of its own, the main queue on this thread. Never returns.
void pebble_run_worker(int channel) __attribute__((noreturn));

/// The zygote's loop: forks workers on request from the pool, reports their exits. Never returns.
void pebble_zygote_main(int control, int pool_pidfd) __attribute__((noreturn));

#endif
