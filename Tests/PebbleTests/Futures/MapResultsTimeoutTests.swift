// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Testing
import _PebbleTestShim

@testable import Pebble
@testable import PebbleTestSupport

@Suite(.timeLimit(.minutes(1)))
struct MapResultsTimeoutTests {
    @Test func nextWithTimeoutThrowsAndLosesNothing() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let gate = Gate()
        let mapped = try pool.map([1, 2, 3]) { input in
            if input == 2 { gate.wait() }
            return input * 10
        }
        var iterator = try mapped.result(timeout: .seconds(30)).makeIterator()
        #expect(try iterator.next(timeout: .seconds(30))?.get() == 10)
        let started = ContinuousClock.now
        #expect(pebbleCode(errorOf { try iterator.next(timeout: .milliseconds(100)) }) == .waitTimedOut)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(pebbleCode(errorOf { try iterator.next(timeout: .zero) }) == .waitTimedOut)
        gate.open()
        #expect(try iterator.next(timeout: .seconds(30))?.get() == 20, "the element that timed out is not lost")
        #expect(try iterator.next(timeout: .seconds(30))?.get() == 30)
        #expect(try iterator.next(timeout: .seconds(30)) == nil)
        #expect(pebbleCode(errorOf { try iterator.next(timeout: .seconds(-1)) }) == .invalidArgument)
        pool.close()
        try pool.join(timeout: .seconds(30))
    }

    /// The zygote's worker table grows past its first sizes (it had a fixed 4,096 entries, and a
    /// worker past them was never reported as exited).
    @Test func zygoteWorkerTableGrows() {
        #expect(pebble_zygote_table_check(10_000) == 10_000)
        #expect(pebble_zygote_table_check(5) == 5)
    }
}
