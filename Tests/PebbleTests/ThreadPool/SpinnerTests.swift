// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import Pebble

/// How long a thread pool's drain spins for its next task adapts to what spinning gained, and
/// stops for ever longer cooldowns on a machine where spins lose their CPU (where a yield may
/// hand a CPU hog a whole time slice while the next task waits). The rules, without threads.
struct SpinnerTests {
    typealias Spinner = ThreadPool.Spinner

    @Test func aSpinThatSawItsTaskDoublesTheBudgetUpToTheMaximum() {
        var spinner = Spinner()
        #expect(spinner.budget == Spinner.minimum)
        spinner.watched(arrived: true, preempted: false, catchUp: 0)
        #expect(spinner.budget == 2 * Spinner.minimum)
        for _ in 0..<20 { spinner.watched(arrived: true, preempted: false, catchUp: 0) }
        #expect(spinner.budget == Spinner.maximum)
    }

    @Test func spinsThatMissHalveTheBudgetDownToNothingAndAShortPauseRestoresIt() {
        var spinner = Spinner()
        spinner.watched(arrived: false, preempted: false, catchUp: 0)
        #expect(spinner.budget == Spinner.minimum / 2)
        spinner.watched(arrived: false, preempted: false, catchUp: 0)
        #expect(spinner.budget == 0)
        spinner.parked(for: Spinner.shortPark * 2)
        #expect(spinner.budget == 0, "a long pause does not restore spinning")
        spinner.parked(for: Spinner.shortPark / 2)
        #expect(spinner.budget == Spinner.minimum, "a drain started again soon after it ended")
    }

    /// A spin that lost its CPU stops spinning (and catching up) for a cooldown of parks that
    /// doubles while this recurs, up to the maximum; a spin that sees its task resets it.
    @Test func aSpinThatLostItsCPUStartsACooldownThatDoublesWhileItRecurs() {
        var spinner = Spinner()
        var expected = SpinWatch.minimumCooldown
        for _ in 0..<12 {
            spinner.watched(arrived: false, preempted: true, catchUp: 0)
            #expect(spinner.budget == 0)
            #expect(spinner.cooldown == expected)
            #expect(spinner.catchUpCooldown >= expected, "no catch-up spin during the cooldown")
            for _ in 0..<expected { spinner.parked(for: 0) }
            #expect(spinner.cooldown == 0)
            #expect(spinner.budget == 0, "no short pause restores the budget during the cooldown")
            expected = min(SpinWatch.maximumCooldown, expected * 2)
        }
        #expect(expected == SpinWatch.maximumCooldown)
        spinner.parked(for: 0)
        #expect(spinner.budget == Spinner.minimum, "after the cooldown a short pause restores it")
        spinner.watched(arrived: true, preempted: false, catchUp: 0)
        spinner.watched(arrived: false, preempted: true, catchUp: 0)
        #expect(spinner.cooldown == SpinWatch.minimumCooldown, "a spin that saw its task reset the doubling")
    }

    /// A catch-up spin (for a waiter that slept) that saw nothing come backs off for a while;
    /// one that saw its task does not.
    @Test func aCatchUpSpinThatMissedBacksOff() {
        var spinner = Spinner()
        spinner.watched(arrived: true, preempted: false, catchUp: Spinner.catchUp)
        let afterAHit = spinner.mayCatchUp()
        #expect(afterAHit)
        spinner.watched(arrived: false, preempted: false, catchUp: Spinner.catchUp)
        for _ in 0..<Spinner.catchUpBackoff {
            let mayCatchUp = spinner.mayCatchUp()
            #expect(!mayCatchUp)
        }
        let afterTheBackoff = spinner.mayCatchUp()
        #expect(afterTheBackoff)
    }
}
