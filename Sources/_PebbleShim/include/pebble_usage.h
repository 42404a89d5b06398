// SPDX-License-Identifier: Apache-2.0
#ifndef PEBBLE_USAGE_H
#define PEBBLE_USAGE_H

#include <stdint.h>

/// What a process used so far: CPU time in user mode and in the kernel, its page faults, and
/// getrusage's view of its peak resident set.
typedef struct pebble_usage {
    int64_t user_ns;
    int64_t system_ns;
    /// Minor and major page faults so far (every thread's, the process's life).
    int64_t faults;
    /// getrusage's ru_maxrss, in bytes: the larger of the peak since the last reset and the peak
    /// that exec carried over into the process (see pebble_usage_peak_is_own).
    int64_t maxrss_bytes;
} pebble_usage_t;

/// The current resident set in bytes (statm, read with pread from `statm_fd`); -1 when unreadable.
int64_t pebble_usage_resident_bytes(int statm_fd);
/// Resets the peak resident set (VmHWM) to the current resident set: clear_refs "5". 0, or -1.
int pebble_usage_reset_peak(int clear_refs_fd);
/// Called in a worker the zygote forked, before its loop starts: until it execs, getrusage's
/// ru_maxrss is its own memory's peak since the last reset.
void pebble_usage_note_forked(void);
/// Whether ru_maxrss (`maxrss_bytes`) is this process's own peak since the last reset: 1 in a
/// process forked without an exec since (its signal struct's carried peak starts at 0 and only
/// exec, or the death of the whole process, raises it), 0 in a spawned one (exec set the carried
/// peak to the spawning process's, which may be far larger).
int pebble_usage_peak_is_own(void);
/// This process's CPU times, page faults and ru_maxrss: one getrusage(RUSAGE_SELF).
void pebble_usage_sample(pebble_usage_t *_Nonnull usage);
/// This process's memory's own peak resident set since the last reset (VmHWM, read with pread
/// from `status_fd`), in bytes; -1 when unreadable or `status_fd` is -1.
int64_t pebble_usage_high_water_mark(int status_fd);

#endif
