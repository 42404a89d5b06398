// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Testing

@testable import Pebble
@testable import PebbleTestSupport

/// API.md Part 2 "Async lifecycle" on the thread pool.
@Suite(.timeLimit(.minutes(2)))
struct ThreadPoolLifecycleTests {
    @Test func asyncJoinWaitsForQueuedWork() async throws {
        let pool = try ThreadPool(maxWorkers: 1)
        await #expect { try await pool.join() } throws: { pebbleCode($0) == .poolStillRunning }
        let gate = Gate()
        let futures = try (0..<3).map { n in
            try pool.schedule {
                gate.wait()
                return n
            }
        }
        pool.close()
        await #expect { try await pool.join(timeout: .milliseconds(100)) } throws: { pebbleCode($0) == .waitTimedOut }
        gate.open()
        try await pool.join(timeout: .seconds(10))
        for (n, future) in futures.enumerated() {
            #expect(future.isDone)
            #expect(try await future.value == n)
        }
        #expect(!pool.isActive)
    }

    @Test func cancellingTheJoiningTaskThrowsAndLeavesThePoolAlone() async throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let gate = Gate()
        let future = try pool.schedule {
            gate.wait()
            return 1
        }
        pool.close()
        let joining = Task { try await pool.join() }
        joining.cancel()
        await #expect(throws: CancellationError.self) { try await joining.value }
        gate.open()
        #expect(try await future.value == 1)
        try await pool.join()
    }

    @Test func shutdownLetsQueuedWorkFinishWithinTheGracePeriod() async throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let futures = try (0..<5).map { n in try pool.schedule { n } }
        await pool.shutdown(gracePeriod: .seconds(10))
        for (n, future) in futures.enumerated() { #expect(try await future.value == n) }
        #expect(pool.statistics.completed == 5)
    }

    @Test func shutdownStopsAfterTheGracePeriodWhileRunningClosuresRunOn() async throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let gate = Gate()
        let started = AsyncEventCounter()
        let running = try pool.schedule {
            started.record()
            gate.wait()
            return 1
        }
        await started.reached()
        let queued = try pool.schedule { 2 }
        let start = ContinuousClock.now
        await pool.shutdown(gracePeriod: .milliseconds(100))
        // Wide: an async test can wait a long time for a cooperative thread while the suite's
        // blocking tests hold them; without the grace period's stop this would never return.
        #expect(ContinuousClock.now - start < .seconds(60))
        await #expect(throws: CancellationError.self) { try await queued.value }
        #expect(!running.isDone)
        gate.open()
        #expect(try await running.value == 1)
        try await pool.join()
    }

    @Test func withThreadPoolClosesAndJoinsOnReturn() async throws {
        let ran = Box(0)
        let futures = try await withThreadPool(configuration: .init(maxWorkers: 2)) { pool in
            try (0..<10).map { _ in try pool.schedule { ran.update { $0 += 1 } } }
        }
        // Queued work finished before it returned.
        #expect(ran.value == 10)
        #expect(futures.allSatisfy { $0.isDone })
    }

    @Test func withThreadPoolStopsOnThrowAndFailsUnfinishedFutures() async throws {
        let gate = Gate()
        let started = AsyncEventCounter()
        let queued = Box<[Future<Int>]>([])
        let escaped = Box<ThreadPool?>(nil)
        await #expect(throws: TestFailure.self) {
            try await withThreadPool(configuration: .init(maxWorkers: 1)) { pool in
                escaped.value = pool
                _ = try pool.schedule {
                    started.record()
                    gate.wait()
                    return 0
                }
                await started.reached()
                queued.value = try (0..<3).map { n in try pool.schedule { n } }
                // The running closure finishes once the queued ones were dropped.
                queued.value[2].whenComplete { _ in gate.open() }
                throw TestFailure(reason: "body failed")
            }
        }
        for future in queued.value { await #expect(throws: CancellationError.self) { try await future.value } }
        // It returned only when no closure ran on the pool any more.
        #expect(escaped.value?.statistics.running == 0)
        #expect(escaped.value?.isActive == false)
    }

    @Test func withThreadPoolStopsWhenItsTaskIsCancelled() async throws {
        let gate = Gate()
        let started = AsyncEventCounter()
        let queued = Box<Future<Int>?>(nil)
        let task = Task {
            try await withThreadPool(configuration: .init(maxWorkers: 1)) { pool in
                _ = try pool.schedule {
                    started.record()
                    gate.wait()
                    return 0
                }
                queued.value = try pool.schedule { 1 }
                queued.value?.whenComplete { _ in gate.open() }
                started.record()
                try await Task.sleep(for: .seconds(60))
            }
        }
        // Cancelled only once the first closure runs and the second task, whose completion opens
        // the gate, is queued: cancelled any sooner, `schedule` would throw and nothing would
        // open the gate (seen under the thread sanitizer).
        await started.reached(2)
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        await #expect(throws: CancellationError.self) { try await queued.value?.value }
    }

    /// 50 concurrent joins and 50 concurrent shutdowns, awaited from inside a TaskGroup while a job
    /// still runs: on the cooperative pool (as many threads as cores, 2 here) a join that blocked
    /// its thread would leave none to open the gate, and the test would hit its time limit.
    @Test func fiftyConcurrentJoinsAndShutdownsDoNotBlockTheCooperativePool() async throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let gate = Gate()
        let job = try pool.schedule {
            gate.wait()
            return 1
        }
        pool.close()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 { group.addTask { try await pool.join() } }
            for _ in 0..<50 { group.addTask { await pool.shutdown(gracePeriod: .seconds(60)) } }
            // Not needed for correctness: gives the 100 waits time to be in place first.
            try await Task.sleep(for: .milliseconds(100))
            #expect(!job.isDone)
            gate.open()
            try await group.waitForAll()
        }
        #expect(try await job.value == 1)
    }
}
