import Synchronization
import Testing

@testable import Pebble
@testable import PebbleTestSupport

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How long a waiter watches a thread-pool future before it sleeps adapts to whether watching
/// pays: a waiter never keeps burning its budget on spins that never see the task done (measured
/// on a busy 2-CPU machine: every one missed, and delayed the sleep), and spins again once a probe
/// shows that it pays. A `WaitSpin` of the test's own, so that the pools of other tests do not
/// move its budget.
@Suite(.enabled(if: usableCPUCount() > 1, "with one CPU nobody spins"))
struct WaitSpinTests {
    /// A future completed already: a spin sees it at once.
    private func doneFuture() -> FutureCore { FutureCore(completed: .value(1)) }

    /// A spin whose looks are 1 µs apart and that yields to nobody.
    private func steadySpin(maximum: UInt64) -> WaitSpin {
        WaitSpin(maximum: maximum, relax: {}, clock: steppingClock(step: 1_000))
    }

    @Test func spinsThatMissHalveTheBudgetDownToNothing() {
        let spin = steadySpin(maximum: 4_000)
        let pending = FutureCore()
        #expect(spin.budget.load(ordering: .relaxed) == 4_000)
        #expect(!spin.spin(for: pending))
        #expect(spin.budget.load(ordering: .relaxed) == 2_000)
        #expect(!spin.spin(for: pending))
        #expect(spin.budget.load(ordering: .relaxed) == 1_000)
        #expect(!spin.spin(for: pending))
        #expect(spin.budget.load(ordering: .relaxed) == 0)
    }

    /// A spin that saw the task done restores the whole budget: one round trip a little slower
    /// than the last must not cost the next one a sleep (and, on an idle VM, a wake-up of tens
    /// of µs that ends the regime where waiter and worker both stay awake).
    @Test func aSpinThatSeesTheTaskDoneRestoresTheWholeBudget() {
        let spin = steadySpin(maximum: 64_000)
        #expect(!spin.spin(for: FutureCore()))
        #expect(spin.budget.load(ordering: .relaxed) == 32_000)
        #expect(spin.spin(for: doneFuture()))
        #expect(spin.budget.load(ordering: .relaxed) == 64_000)
    }

    /// A spin that lost its CPU (here, 200 µs between two looks) is no hit even if the task got
    /// done meanwhile: another thread wanted the CPU, and the next waits do not watch at all.
    @Test func aSpinThatLostItsCPUStopsTheWatchingForAWhile() {
        let spin = WaitSpin(maximum: 64_000, relax: {}, clock: steppingClock(step: 200_000))
        #expect(spin.spin(for: doneFuture())) // seen at the first look, before any yield
        #expect(!spin.spin(for: FutureCore()))
        #expect(spin.budget.load(ordering: .relaxed) == 0)
        // Even a task done already is not watched for: those waits go straight to sleep.
        for _ in 0..<SpinWatch.minimumCooldown { #expect(!spin.spin(for: doneFuture())) }
        #expect(spin.cooldown.load(ordering: .relaxed) == 0)
        // Another spin that loses its CPU (a probe: the budget is nothing) doubles the cooldown.
        for _ in 1..<WaitSpin.probeInterval { #expect(!spin.spin(for: FutureCore())) }
        #expect(!spin.spin(for: FutureCore()))
        #expect(spin.cooldown.load(ordering: .relaxed) == 2 * SpinWatch.minimumCooldown)
    }

    /// Between two looks at the clock a waiter gives its CPU to a thread waiting for it: the kernel
    /// often runs the waiter and the worker on the same CPU, where a spin that kept the CPU could
    /// never see the task done.
    @Test func aSpinYieldsItsCPUBetweenLooksAtTheClock() {
        let yields = StateLock(0)
        let spin = WaitSpin(maximum: 4_000, relax: { yields.withLock { $0 += 1 } }, clock: steppingClock(step: 1_000))
        #expect(!spin.spin(for: FutureCore()))
        #expect(yields.withLock { $0 } > 0)
    }

    @Test func withNoBudgetOneWaitInSixteenProbesAndAHitGivesItABudgetAgain() {
        let spin = steadySpin(maximum: 4_000)
        let pending = FutureCore()
        while spin.budget.load(ordering: .relaxed) > 0 { _ = spin.spin(for: pending) }
        // Waits without a probe return at once without looking, even at a future that is done.
        for _ in 1..<WaitSpin.probeInterval { #expect(!spin.spin(for: doneFuture())) }
        #expect(spin.budget.load(ordering: .relaxed) == 0)
        // The probe sees the task done: spinning pays again, with the whole budget.
        #expect(spin.spin(for: doneFuture()))
        #expect(spin.budget.load(ordering: .relaxed) == 4_000)
    }
}
