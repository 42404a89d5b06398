// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "pebble_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

// Resource limits and the resident-set reading a worker applies to itself (WorkerLimits.swift).
// Never called in the pool's process.

static int resource_of(int which) {
    switch (which) {
    case PEBBLE_LIMIT_ADDRESS_SPACE: return RLIMIT_AS;
    case PEBBLE_LIMIT_OPEN_FILES: return RLIMIT_NOFILE;
    case PEBBLE_LIMIT_FILE_SIZE: return RLIMIT_FSIZE;
    default: return -1;
    }
}

int pebble_limit_resource(int which, uint64_t value) {
    int resource = resource_of(which);
    struct rlimit limit;
    if (resource < 0 || getrlimit(resource, &limit) != 0) return -1;
    // Never above the inherited hard limit (an unprivileged process cannot raise it). The hard
    // limit comes down too, so a job cannot lift the soft one again.
    rlim_t wanted = (rlim_t)value;
    if (limit.rlim_max != RLIM_INFINITY && wanted > limit.rlim_max) wanted = limit.rlim_max;
    limit.rlim_cur = wanted;
    limit.rlim_max = wanted;
    return setrlimit(resource, &limit);
}

int pebble_limit_cpu_from_now(int64_t nanoseconds) {
    struct rusage usage;
    struct rlimit limit;
    if (getrusage(RUSAGE_SELF, &usage) != 0 || getrlimit(RLIMIT_CPU, &limit) != 0) return -1;
    int64_t used = ((int64_t)usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000000LL
                 + ((int64_t)usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1000LL;
    int64_t total = used + nanoseconds;
    // RLIMIT_CPU is in whole seconds: round up, so a task never gets less than its limit.
    rlim_t seconds = (rlim_t)((total + 999999999LL) / 1000000000LL);
    if (seconds < 1) seconds = 1;
    // Only the soft limit moves (SIGXCPU at it): the hard limit could never be raised again for
    // the next task.
    if (limit.rlim_max != RLIM_INFINITY && seconds > limit.rlim_max) seconds = limit.rlim_max;
    limit.rlim_cur = seconds;
    return setrlimit(RLIMIT_CPU, &limit);
}

int64_t pebble_resident_bytes(void) {
    // /proc/self/statm: "size resident shared text lib data dt", in pages. One open and one read
    // (a few microseconds), against a parse of the longer /proc/self/status.
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char text[128];
    ssize_t got;
    do { got = read(fd, text, sizeof text - 1); } while (got < 0 && errno == EINTR);
    close(fd);
    if (got <= 0) return -1;
    text[got] = 0;
    char *end;
    strtoll(text, &end, 10);
    int64_t pages = strtoll(end, NULL, 10);
    return pages * (int64_t)sysconf(_SC_PAGESIZE);
}
