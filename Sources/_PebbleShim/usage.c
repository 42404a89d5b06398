// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE
#include "pebble_usage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int64_t pebble_usage_resident_bytes(int statm_fd) {
    if (statm_fd < 0) return -1;
    char text[128];
    ssize_t count;
    do { count = pread(statm_fd, text, sizeof text - 1, 0); } while (count < 0 && errno == EINTR);
    if (count <= 0) return -1;
    text[count] = 0;
    char *end = NULL;
    strtoll(text, &end, 10);                           // "size resident shared text lib data dt"
    if (end == NULL || *end != ' ') return -1;
    return strtoll(end + 1, NULL, 10) * (int64_t)sysconf(_SC_PAGESIZE);
}

int pebble_usage_reset_peak(int clear_refs_fd) {
    if (clear_refs_fd < 0) return -1;
    ssize_t written;
    do { written = write(clear_refs_fd, "5", 1); } while (written < 0 && errno == EINTR);
    return written == 1 ? 0 : -1;
}

static int forked_without_exec;

void pebble_usage_note_forked(void) { forked_without_exec = 1; }

int pebble_usage_peak_is_own(void) { return forked_without_exec; }

static int64_t nanoseconds(struct timeval time) {
    return (int64_t)time.tv_sec * 1000000000 + (int64_t)time.tv_usec * 1000;
}

// getrusage's ru_maxrss is the largest of the mm's peak since the reset and the signal struct's
// maxrss, which exec sets to the peak of the mm it replaced — for a posix_spawn'ed worker, the
// parent's. VmHWM is the mm's own high-water mark, whatever the process's history.
int64_t pebble_usage_high_water_mark(int status_fd) {
    if (status_fd < 0) return -1;
    char text[4096];
    ssize_t count;
    do { count = pread(status_fd, text, sizeof text - 1, 0); } while (count < 0 && errno == EINTR);
    if (count <= 0) return -1;
    text[count] = 0;
    const char *field = strstr(text, "\nVmHWM:");
    if (field == NULL) return -1;
    return strtoll(field + 7, NULL, 10) * 1024;   // "VmHWM:\t   1234 kB"
}

void pebble_usage_sample(pebble_usage_t *usage) {
    struct rusage self;
    memset(&self, 0, sizeof self);
    getrusage(RUSAGE_SELF, &self);
    usage->user_ns = nanoseconds(self.ru_utime);
    usage->system_ns = nanoseconds(self.ru_stime);
    usage->faults = (int64_t)self.ru_minflt + (int64_t)self.ru_majflt;
    usage->maxrss_bytes = (int64_t)self.ru_maxrss * 1024;
}
