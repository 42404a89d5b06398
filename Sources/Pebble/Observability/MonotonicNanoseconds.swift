// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `CLOCK_MONOTONIC` in nanoseconds: the clock a process pool's latency summaries use on both
/// sides of the task board (the pool notes when a task is scheduled, the worker when it takes it).
///
/// ```swift
/// let start = monotonicNanoseconds()
/// let elapsed = Duration.nanoseconds(Int64(monotonicNanoseconds() - start))
/// ```
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
