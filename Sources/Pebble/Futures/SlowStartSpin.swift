// SPDX-License-Identifier: Apache-2.0
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How long a waiter watches a future whose task must first wait for a thread to be woken (a
/// thread pool's drain started for it, see ``FutureCore/slowStartBit``) before it sleeps itself.
///
/// Sleeping at once costs the round trip two wake-ups, the worker's and then the waiter's; a
/// waiter that watches through the worker's wake-up (a few microseconds when a CPU is free) pays
/// only the first, and finds the worker awake for its next task. The budget adapts, for the
/// process: a spin that saw the task done sets it to ``maximum``, one that did not halves it,
/// down to nothing, so that waiters on long tasks, or on a machine too busy to wake the worker
/// soon, stop spinning; then one wait in ``probeInterval`` spins ``maximum`` all the same, to find
/// out whether spinning pays again (at most a microsecond per wait on average). A spin during which the waiter lost its CPU (the machine is busy: it may
/// be the CPU the worker needs) ends at once. With one usable CPU nobody spins: the worker needs
/// the waiter's CPU.
enum SlowStartSpin {
    /// Below this, the budget is nothing.
    static let minimum: UInt64 = 2_000
    /// The most a waiter spins (nanoseconds): a thread wake-up and a short task, with room.
    static let maximum: UInt64 = 16_000
    /// Two looks this far apart mean the spinning thread was descheduled.
    static let preemptionGap: UInt64 = 30_000
    /// With no budget, one wait in this many spins ``maximum`` all the same.
    static let probeInterval = 16
    /// Nanoseconds the next waiter spins. Written only when it changes (relaxed: a hint shared by
    /// every waiter of the process; a lost update costs one spin too many or too few).
    static let budget = Atomic<UInt64>(usableCPUCount() > 1 ? maximum : 0)
    /// Waits that found no budget, for the probes.
    static let skipped = Atomic<Int>(0)
    static let spins = usableCPUCount() > 1

    /// Watches `core` for up to the current budget; returns whether it got done.
    static func spin(for core: FutureCore) -> Bool {
        guard spins else { return false }
        let current = budget.load(ordering: .relaxed)
        var length = current
        if current == 0 {
            guard skipped.wrappingAdd(1, ordering: .relaxed).newValue % probeInterval == 0 else { return false }
            length = maximum
        }
        var last = now()
        let end = last &+ length
        var done = false
        while true {
            for _ in 0..<32 where core.isDone {
                done = true
                break
            }
            if done { break }
            let now = now()
            if now &- last > preemptionGap || now >= end { break }
            last = now
        }
        done = done || core.isDone
        let next = done ? maximum : current / 2 < minimum ? 0 : current / 2
        if next != current { budget.store(next, ordering: .relaxed) }
        return done
    }

    /// `CLOCK_MONOTONIC` in nanoseconds.
    @inline(__always) static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }
}
