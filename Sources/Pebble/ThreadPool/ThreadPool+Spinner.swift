import Synchronization

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ThreadPool {
    /// How long a drain that found the queue empty spins, watching for a task, before it ends
    /// (gives its thread back to Dispatch), adapted to what spinning gained: a spin that saw a
    /// task come doubles the budget (up to ``maximum``), one that did not halves it, down to
    /// nothing; a drain that ended and was started again soon after (within ``shortPark``)
    /// restores ``minimum``. A spinning drain yields its CPU between two looks at the clock
    /// (every 256 looks at the queue): a thread waiting for that CPU, often the very waiter that
    /// would send the next task (the kernel tends to run a waiter and its worker on the same
    /// CPU), runs at once, so a spin takes no CPU from anyone who wants it. A drain that lost its
    /// CPU in the middle of a spin (a gap of ``SpinWatch/preemptionGap`` between two looks: the machine is
    /// busy) does not spin for a cooldown of parks (nor catch up), which starts at
    /// ``SpinWatch/minimumCooldown`` and doubles with each such spin up to ``SpinWatch/maximumCooldown`` (a spin that
    /// saw its task come resets it), so that on a machine kept busy, where a yield may hand a CPU
    /// hog a whole time slice (4 ms measured) while the next task waits for the drain, that
    /// happens ever more rarely. A pool fed in a steady stream (or one
    /// round trip after another) thus keeps a worker awake between tasks, while an idle pool
    /// spins next to never: at most ``maximum`` per wait, never two drains at once. One per
    /// slot, touched only by the slot's drain (one at a time, handed over under the pool's lock).
    struct Spinner {
        static let minimum: UInt64 = 2_000
        static let maximum: UInt64 = 20_000
        static let shortPark: UInt64 = 200_000
        /// How long a drain spins at least after a task whose waiter slept: a thread wake-up and
        /// the waiter's turn-around, so that its next task finds the drain awake. Waking a thread
        /// whose CPU idles takes 25–40 µs on a 2-vCPU VM (the vCPU must leave its halt).
        static let catchUp: UInt64 = 50_000
        /// After a catch-up spin that saw nothing come (the waiter's wake-up took longer, or it had
        /// nothing more to send), this many chances to catch up are skipped: where wake-ups are
        /// slow, a spin would only hold a CPU the woken waiter may need.
        static let catchUpBackoff = 16
        var catchUpCooldown = 0

        /// Whether to spin for a waiter that slept: not while backing off after a miss.
        mutating func mayCatchUp() -> Bool {
            guard catchUpCooldown > 0 else { return true }
            catchUpCooldown -= 1
            return false
        }
        /// Parks left without spinning at all, after a spin that lost its CPU, and the next such
        /// cooldown (``SpinWatch/cooldown(after:)``).
        var cooldown = 0
        var nextCooldown = SpinWatch.minimumCooldown
        /// Nanoseconds to spin next time.
        var budget: UInt64 = Self.minimum
        /// When the slot's last drain ended (``monotonicNanoseconds()``), to tell a short pause from a long one.
        var idleSince: UInt64 = 0

        /// After a spin that watched for a task (`arrived`: it came; `preempted`: the spin lost its
        /// CPU), with `catchUp` the least it lasted (0 unless its waiter slept): the budget and
        /// the cooldowns for the next spins.
        mutating func watched(arrived: Bool, preempted: Bool, catchUp: UInt64) {
            if catchUp > 0 && !arrived { catchUpCooldown = Self.catchUpBackoff }
            if preempted {
                budget = 0
                cooldown = nextCooldown
                nextCooldown = SpinWatch.cooldown(after: nextCooldown)
                // It may have handed its CPU to a CPU hog for a whole time slice: no catch-up
                // spin either (they ignore the budget) until the cooldown has passed.
                catchUpCooldown = max(catchUpCooldown, cooldown)
            } else if arrived {
                budget = min(Self.maximum, budget * 2)
                nextCooldown = SpinWatch.minimumCooldown
            } else {
                budget = budget / 2 < Self.minimum / 2 ? 0 : budget / 2
            }
        }

        /// A drain starts after its slot was idle for `nanoseconds`: a cooldown counts down, and
        /// a short pause restores at least the ``minimum`` budget.
        mutating func parked(for nanoseconds: UInt64) {
            if cooldown > 0 {
                cooldown -= 1
                return
            }
            if nanoseconds < Self.shortPark && budget < Self.minimum { budget = Self.minimum }
        }
    }

    /// The slots' spinners, one per slot: each touched only by its slot's drain (one at a time;
    /// the pool's lock orders one drain's writes before the next drain's reads).
    final class Spinners: @unchecked Sendable {
        // @unchecked Sendable: see above; the storage never moves and is freed in deinit.
        let base: UnsafeMutablePointer<Spinner>
        let count: Int

        init(count: Int) {
            self.count = count
            base = .allocate(capacity: count)
            base.initialize(repeating: Spinner(), count: count)
        }

        deinit {
            base.deinitialize(count: count)
            base.deallocate()
        }
    }

    /// What a spinning drain watches: the pool's count of tasks ever queued, published while a
    /// drain spins.
    final class SpinSignal: Sendable {
        let appended = Atomic<Int>(0)
        private let padding: (Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0)
    }
}
