// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Testing

@testable import Pebble
@testable import PebbleTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// API.md Part 2 "Async lifecycle" on the process pool.
@Suite(.timeLimit(.minutes(2)))
struct ProcessPoolLifecycleTests {
    static func configuration(_ maxWorkers: Int, _ startMethod: ProcessPool.StartMethod) -> ProcessPool.Configuration {
        var configuration = ProcessPool.Configuration(maxWorkers: maxWorkers)
        configuration.startMethod = startMethod
        return configuration
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func asyncJoinWaitsForQueuedJobsAndWorkers(_ startMethod: ProcessPool.StartMethod) async throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        await #expect { try await pool.join() } throws: { pebbleCode($0) == .poolStillRunning }
        let futures = try (0..<4).map { try pool.schedule(AddOne(x: $0)) }
        let slow = try pool.schedule(SleepJob(seconds: 0.3))
        pool.close()
        await #expect { try await pool.join(timeout: .milliseconds(50)) } throws: { pebbleCode($0) == .waitTimedOut }
        try await pool.join(timeout: .seconds(20))
        for (n, future) in futures.enumerated() { #expect(try await future.value == n + 1) }
        #expect(slow.isDone)
        #expect(pool.statistics.workers == 0)
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func asyncStopFailsUnfinishedFuturesAndReapsEveryWorker(_ startMethod: ProcessPool.StartMethod) async throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        let pids = try await [pool.run(WorkerPid()), pool.run(WorkerPid())]
        let running = try (0..<2).map { _ in try pool.schedule(SleepJob(seconds: 60)) }
        let queued = try pool.schedule(AddOne(x: 1))
        await pool.stop()
        for future in running { await #expect(throws: CancellationError.self) { try await future.value } }
        await #expect(throws: CancellationError.self) { try await queued.value }
        // Every worker is dead and reaped: kill(pid, 0) finds none of them.
        for pid in Set(pids) { #expect(kill(pid, 0) == -1) }
        try await pool.join()
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func shutdownLetsShortJobsFinish(_ startMethod: ProcessPool.StartMethod) async throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        let futures = try (0..<6).map { try pool.schedule(AddOne(x: $0)) }
        await pool.shutdown(gracePeriod: .seconds(20))
        for (n, future) in futures.enumerated() { #expect(try await future.value == n + 1) }
        #expect(!pool.isActive)
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func shutdownStopsJobsStillRunningAfterTheGracePeriod(_ startMethod: ProcessPool.StartMethod) async throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let pid = try await pool.run(WorkerPid())
        let hung = try pool.schedule(SleepJob(seconds: 60))
        let queued = try pool.schedule(AddOne(x: 1))
        let start = ContinuousClock.now
        await pool.shutdown(gracePeriod: .milliseconds(200))
        // Wide: an async test can wait a long time for a cooperative thread while the suite's
        // blocking tests hold them; without the grace period's stop this would never return.
        #expect(ContinuousClock.now - start < .seconds(60))
        await #expect(throws: CancellationError.self) { try await hung.value }
        await #expect(throws: CancellationError.self) { try await queued.value }
        #expect(kill(pid, 0) == -1)
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func withProcessPoolClosesAndJoinsOnReturn(_ startMethod: ProcessPool.StartMethod) async throws {
        let futures = try await withProcessPool(configuration: Self.configuration(2, startMethod)) { pool in
            try (0..<5).map { try pool.schedule(AddOne(x: $0)) }
        }
        for (n, future) in futures.enumerated() {
            #expect(future.isDone)
            #expect(try await future.value == n + 1)
        }
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func withProcessPoolStopsOnThrow(_ startMethod: ProcessPool.StartMethod) async throws {
        let futures = Box<[Future<Int32>]>([])
        let escaped = Box<ProcessPool?>(nil)
        await #expect(throws: TestFailure.self) {
            try await withProcessPool(configuration: Self.configuration(1, startMethod)) { pool in
                escaped.value = pool
                futures.value = try (0..<3).map { _ in try pool.schedule(SleepJob(seconds: 60)) }
                throw TestFailure(reason: "body failed")
            }
        }
        for future in futures.value { await #expect(throws: CancellationError.self) { try await future.value } }
        #expect(escaped.value?.statistics.workers == 0)
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func withProcessPoolStopsWhenItsTaskIsCancelled(_ startMethod: ProcessPool.StartMethod) async throws {
        let future = Box<Future<Int32>?>(nil)
        let scheduled = AsyncEventCounter()
        let task = Task {
            try await withProcessPool(configuration: Self.configuration(1, startMethod)) { pool in
                future.value = try pool.schedule(SleepJob(seconds: 60))
                scheduled.record()
                try await Task.sleep(for: .seconds(60))
            }
        }
        await scheduled.reached()
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        await #expect(throws: CancellationError.self) { try await future.value?.value }
    }

    /// As for the thread pool: 50 joins and 50 shutdowns awaited from a TaskGroup while a job runs;
    /// a blocking one would starve the 2-thread cooperative pool, and the `stop()` that ends the
    /// job could never run (the test would hit its time limit).
    @Test(arguments: ProcessPool.StartMethod.all)
    func fiftyConcurrentJoinsAndShutdownsDoNotBlockTheCooperativePool(_ startMethod: ProcessPool.StartMethod) async throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let job = try pool.schedule(SleepJob(seconds: 60))
        pool.close()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 { group.addTask { try await pool.join() } }
            for _ in 0..<50 { group.addTask { await pool.shutdown(gracePeriod: .seconds(60)) } }
            // Not needed for correctness: gives the 100 waits time to be in place first.
            try await Task.sleep(for: .milliseconds(100))
            #expect(!job.isDone)
            await pool.stop()
            try await group.waitForAll()
        }
        await #expect(throws: CancellationError.self) { try await job.value }
        #expect(pool.statistics.workers == 0)
    }
}
