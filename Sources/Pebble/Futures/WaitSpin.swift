// SPDX-License-Identifier: Apache-2.0
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How long a thread waiting for a thread-pool task watches its future before it sleeps (or, for
/// an async `run`, suspends), adapted to whether watching pays.
///
/// A waiter that sees the task done while it watches costs the round trip no sleep and no
/// wake-up; one that watches in vain wastes its budget. So the budget adapts, for the process: a
/// spin that saw the task done restores it to ``maximum`` (one round trip a little slower than
/// the last must not cost the next a sleep: that sleep is a wake-up of tens of µs on an idle
/// VM, and it ends the back-to-back regime where waiter and worker both stay awake); one that
/// did not halves it, down to nothing; with nothing, one wait in ``probeInterval`` spins
/// ``maximum`` all the same, to find out whether spinning pays again (amortised, at most
/// ``maximum`` / 16 per wait). A spin during which the waiter lost its CPU (a gap of
/// ``SpinWatch/preemptionGap`` between two looks) ends at once, and then no waiter watches for a cooldown
/// of waits: another thread wanted that CPU, and a yield to it may have cost a whole time slice
/// (measured with CPU hogs on both vCPUs: 4 ms, one round trip in ten without the cooldown). The
/// cooldown starts at ``SpinWatch/minimumCooldown`` waits and doubles with each such spin, up to
/// ``SpinWatch/maximumCooldown``, so that a machine kept busy pays a slice ever more rarely; a spin that
/// sees the task done resets it. With one usable CPU nobody spins: the worker needs the waiter's
/// CPU.
///
/// Between two looks at the clock (every 32 looks at the future) the waiter yields its CPU
/// (``relax``, `sched_yield`): the kernel often runs the waiter and the worker on the same CPU
/// (measured on a 2-vCPU VM: the waiter, the worker and the resumed Task all on one vCPU while
/// another process used the other), and then a plain spin can never see the task done, since
/// the worker waits behind it; with the yield the worker runs at once, and the waiter sees the
/// task done without sleeping, or for an async `run`, without suspending and a hop through the
/// executor. With nothing else to run on the CPU the yield returns at once (one system call).
///
/// Two of them: ``ready`` for a task an awake worker takes (a quick closure is done in a
/// microsecond or two), ``slowStart`` for one that waits for a worker to be woken (a drain was
/// started for it, ``FutureCore/slowStartBit``), which can be watched through the wake-up: waking
/// a thread whose CPU idles takes 25–40 µs on a 2-vCPU VM (the vCPU must leave its halt).
final class WaitSpin: Sendable {
    static let ready = WaitSpin(maximum: 4_000)
    static let slowStart = WaitSpin(maximum: 64_000)

    /// Below this, the budget is nothing.
    static let minimum: UInt64 = 1_000
    /// With no budget, one wait in this many spins ``maximum`` all the same.
    static let probeInterval = 16
    static let spins = usableCPUCount() > 1

    /// The most a waiter spins (nanoseconds).
    let maximum: UInt64
    /// Nanoseconds the next waiter spins. Written only when it changes (relaxed: a hint shared by
    /// every waiter of the process; a lost update costs one spin too many or too few).
    let budget: Atomic<UInt64>
    /// Waits that found no budget, for the probes.
    let skipped = Atomic<Int>(0)
    /// Waits left that do not watch, after a spin that lost its CPU, and the next such cooldown
    /// (hints, like the budget).
    let cooldown = Atomic<Int>(0)
    let nextCooldown = Atomic<Int>(SpinWatch.minimumCooldown)
    /// Called between two looks at the clock: gives the CPU to a thread waiting for it.
    let relax: @Sendable () -> Void
    /// The clock a spin looks at, in nanoseconds (``monotonicNanoseconds()``; tests step it by hand).
    let clock: @Sendable () -> UInt64

    init(
        maximum: UInt64, relax: @escaping @Sendable () -> Void = { _ = sched_yield() },
        clock: @escaping @Sendable () -> UInt64 = monotonicNanoseconds
    ) {
        self.maximum = maximum
        self.relax = relax
        self.clock = clock
        budget = Atomic(Self.spins ? maximum : 0)
    }

    /// Watches `core` for up to the current budget; returns whether it got done.
    func spin(for core: FutureCore) -> Bool {
        guard Self.spins else { return false }
        if cooldown.load(ordering: .relaxed) > 0 {
            cooldown.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        let current = budget.load(ordering: .relaxed)
        var length = current
        if current == 0 {
            guard skipped.wrappingAdd(1, ordering: .relaxed).newValue % Self.probeInterval == 0 else { return false }
            length = maximum
        }
        let (done, preempted) = SpinWatch.watch(for: length, looksPerYield: 32, relax: relax, clock: clock) { core.isDone }
        if preempted {
            // Done or not, watching cost the CPU to another thread: no hit.
            let length = nextCooldown.load(ordering: .relaxed)
            budget.store(0, ordering: .relaxed)
            cooldown.store(length, ordering: .relaxed)
            nextCooldown.store(SpinWatch.cooldown(after: length), ordering: .relaxed)
            return done
        }
        if done && nextCooldown.load(ordering: .relaxed) != SpinWatch.minimumCooldown {
            nextCooldown.store(SpinWatch.minimumCooldown, ordering: .relaxed)
        }
        let next = done ? maximum : current / 2 < Self.minimum ? 0 : current / 2
        if next != current { budget.store(next, ordering: .relaxed) }
        return done
    }
}
