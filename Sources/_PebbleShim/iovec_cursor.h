// SPDX-License-Identifier: Apache-2.0
// Internal to _PebbleShim: walking an array of buffers that a writev or sendmsg took in part.
#ifndef PEBBLE_IOVEC_CURSOR_H
#define PEBBLE_IOVEC_CURSOR_H

#include <stddef.h>
#include <sys/uio.h>

/// Skips the `done` bytes a call took from the front of `*iov` (`*count` buffers): whole buffers
/// leave the array, a partly taken one is shortened.
static inline void pebble_iovec_advance(struct iovec *_Nonnull *_Nonnull iov, int *_Nonnull count, size_t done) {
    while (*count > 0 && done >= (*iov)->iov_len) {
        done -= (*iov)->iov_len;
        (*iov)++;
        (*count)--;
    }
    if (*count > 0) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + done;
        (*iov)->iov_len -= done;
    }
}

#endif
