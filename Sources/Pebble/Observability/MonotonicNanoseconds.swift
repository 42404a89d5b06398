// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `CLOCK_MONOTONIC` in nanoseconds: the clock of the latency summaries (a process pool's on both
/// sides of the task board: the pool notes when a task is scheduled, the worker when it takes it)
/// and of the spins that watch for a task or an outcome (``WaitSpin``, ``ThreadPool/Spinner``).
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
