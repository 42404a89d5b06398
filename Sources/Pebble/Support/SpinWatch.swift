// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Watching, without sleeping, for something another thread is about to do: a waiter for its
/// future (``WaitSpin``), a thread pool's drain for its next task (``ThreadPool/Spinner``).
///
/// ```swift
/// let (seen, preempted) = SpinWatch.watch(for: 4_000, looksPerYield: 32) { future.isDone }
/// ```
enum SpinWatch {
    /// Two looks at the clock this far apart mean the watching thread lost its CPU meanwhile.
    static let preemptionGap: UInt64 = 30_000
    /// After a watch that lost its CPU, a watcher stops watching for a cooldown (of waits, or of a
    /// drain's parks): another thread wanted that CPU, and a yield to it may have handed it a whole
    /// time slice. The first cooldown is this long…
    static let minimumCooldown = 16
    /// …and each one while this recurs twice the last, up to this (a watch that pays resets it).
    static let maximumCooldown = 1_024

    /// The cooldown after `length`, while watches keep losing their CPU.
    static func cooldown(after length: Int) -> Int { min(maximumCooldown, length * 2) }

    /// Looks at `seen` up to `looksPerYield` times, then yields its CPU (`relax`: a thread
    /// waiting for it, often the very one that does what is watched for, runs at once) and reads
    /// `clock`, until `seen` is true or `length` nanoseconds have passed, or two readings are more
    /// than ``preemptionGap`` apart (the thread lost its CPU: the watch ends). Returns whether it
    /// saw it (looked at once more at the end, since the last yield may have run the thread that
    /// does it) and whether it lost its CPU.
    @inline(__always)
    static func watch(
        for length: UInt64, looksPerYield: Int, relax: () -> Void = { _ = sched_yield() },
        clock: () -> UInt64 = monotonicNanoseconds, until seen: () -> Bool
    ) -> (seen: Bool, preempted: Bool) {
        var last = clock()
        let end = last &+ length
        while true {
            for _ in 0..<looksPerYield where seen() { return (true, false) }
            relax()
            let now = clock()
            if now &- last > preemptionGap { return (seen(), true) }
            if now >= end { return (seen(), false) }
            last = now
        }
    }
}
