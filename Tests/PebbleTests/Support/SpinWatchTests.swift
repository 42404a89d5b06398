// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import Pebble
@testable import PebbleTestSupport

/// A watch for what another thread is about to do ends as soon as it is seen, when its length
/// has passed, or when the watching thread lost its CPU; and a thing done during the last yield
/// is not missed. A stepping clock (`steppingClock(step:)`) moves a fixed step per reading, so a
/// loaded machine cannot make a watch look preempted.
struct SpinWatchTests {
    @Test func aWatchEndsAsSoonAsItSeesTheThing() {
        var looks = 0
        let result = SpinWatch.watch(for: 1_000_000, looksPerYield: 8, relax: {}, clock: steppingClock(step: 1_000)) {
            looks += 1
            return looks == 20
        }
        #expect(result == (seen: true, preempted: false))
        #expect(looks == 20, "no look after the one that saw it")
    }

    @Test func aWatchThatNeverSeesItEndsAfterItsLength() {
        var yields = 0
        let result = SpinWatch.watch(
            for: 10_000, looksPerYield: 4, relax: { yields += 1 }, clock: steppingClock(step: 1_000)
        ) { false }
        #expect(result == (seen: false, preempted: false))
        #expect(yields == 10, "one yield per clock step of the 10 µs watched")
    }

    /// Two readings of the clock more than the preemption gap apart: the thread lost its CPU, and
    /// the watch ends at once rather than spinning on a machine that is busy.
    @Test func aWatchThatLostItsCPUEndsAndSaysSo() {
        var yields = 0
        let result = SpinWatch.watch(
            for: 10_000_000, looksPerYield: 4, relax: { yields += 1 },
            clock: steppingClock(step: SpinWatch.preemptionGap + 1)
        ) { false }
        #expect(result == (seen: false, preempted: true))
        #expect(yields == 1)
    }

    /// What the thread yielded to may be the very thread that does the thing: the watch looks
    /// once more after its last yield, whether it ends by length or by preemption.
    @Test func aThingDoneDuringTheLastYieldIsSeen() {
        for step in [UInt64(5_000), SpinWatch.preemptionGap + 1] {
            var done = false
            let result = SpinWatch.watch(
                for: 5_000, looksPerYield: 4, relax: { done = true }, clock: steppingClock(step: step)
            ) { done }
            #expect(result.seen, "step \(step)")
        }
    }
}
