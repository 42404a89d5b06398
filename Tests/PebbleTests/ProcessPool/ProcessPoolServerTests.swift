// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Testing

@testable import Pebble
@testable import PebbleTestSupport

/// Back-pressure, deadlines, statistics and events of a process pool (API.md Part 2).
@Suite(.timeLimit(.minutes(2)))
struct ProcessPoolServerTests {
    /// Every process test runs under both start methods.
    static let startMethods: [ProcessPool.StartMethod] = [.zygote, .spawn]

    /// A pool whose one worker is ready and busy with a 30 s job, plus that job's future.
    static func busyPool(maxPending: Int? = nil, startMethod: ProcessPool.StartMethod = .zygote) throws -> (ProcessPool, Future<Int32>) {
        var configuration = ProcessPool.Configuration(maxWorkers: 1)
        configuration.maxPending = maxPending
        configuration.startMethod = startMethod
        let pool = try ProcessPool(configuration: configuration)
        #expect(try pool.schedule(AddOne(x: 1)).result() == 2) // the worker is ready and idle
        // Goes straight to the worker, which takes it (it then no longer counts as pending). Every
        // test cancels it; it is long because a test may wait tens of seconds for a thread when the
        // machine's two cores run the suite's other tests.
        let fifo = try ReadyFifo()
        let sleeper = try pool.schedule(SignalThenSleep(readyFifo: fifo.path, seconds: 600))
        #expect(fifo.waitForReady(1, seconds: 60), "the worker took the sleeper")
        return (pool, sleeper)
    }

    @Test(arguments: startMethods)
    func aFullQueueThrowsQueueFullAndEnqueuesNothing(startMethod: ProcessPool.StartMethod) throws {
        let (pool, sleeper) = try Self.busyPool(maxPending: 1, startMethod: startMethod)
        let queued = try pool.schedule(AddOne(x: 2))
        #expect(pebbleCode(errorOf { try pool.schedule(AddOne(x: 3)) }) == .queueFull)
        #expect(pebbleCode(errorOf { try pool.map(AddOneFunction(), [1, 2], chunkSize: 1) }) == .queueFull)
        #expect(pool.statistics.pending == 1)
        queued.cancel() // a cancelled task frees its room
        let next = try pool.schedule(AddOne(x: 4))
        sleeper.cancel()
        #expect(try next.result(timeout: .seconds(20)) == 5)
        pool.close()
        try pool.join()
    }

    @Test(arguments: startMethods)
    func runWaitsForRoomAndACancelledWaiterEnqueuesNothing(_ startMethod: ProcessPool.StartMethod) async throws {
        let (pool, sleeper) = try Self.busyPool(maxPending: 1, startMethod: startMethod)
        let queued = try pool.schedule(AddOne(x: 2))
        let cancelledWaiter = Task { try await pool.run(AddOne(x: 10)) }
        cancelledWaiter.cancel()
        await #expect(throws: CancellationError.self) { try await cancelledWaiter.value }
        let waiter = Task { try await pool.run(AddOne(x: 20)) }
        sleeper.cancel() // the worker is replaced; the queue drains
        #expect(try await queued.value == 3)
        #expect(try await waiter.value == 21)
        pool.close()
        let stats = pool.statistics
        // The cancelled waiter enqueued nothing: its job would be one more completed or cancelled task.
        #expect(stats.cancelled == 1 && stats.completed == 3)
    }

    @Test func waitersAreAdmittedOldestFirstAndOneThatLostItsTurnGoesBackToTheFront() {
        var waiters = RoomWaiters<String>()
        for name in ["a", "b", "c", "d"] { waiters.add(waiters.reserveID(), name, atFront: false) }
        #expect(waiters.popFirst(1) == ["a"])
        waiters.add(waiters.reserveID(), "a again", atFront: true) // "a" lost the room to a schedule
        #expect(waiters.remove(3) == "c") // "c"'s Task was cancelled
        #expect(waiters.remove(3) == nil)
        #expect(waiters.popFirst(2) == ["a again", "b"])
        #expect(waiters.failAll() == ["d"])
        #expect(waiters.isEmpty)
    }

    @Test(arguments: startMethods)
    func aDeadlinePassedWhileQueuedFailsTheTaskAndItNeverRuns(_ startMethod: ProcessPool.StartMethod) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pebble-deadline-\(UUID().uuidString)").path
        defer { unlink(path) }
        let (pool, sleeper) = try Self.busyPool(startMethod: startMethod)
        let started = ContinuousClock.now
        let late = try pool.schedule(MarkStart(id: 1, path: path), deadline: .now + .milliseconds(200))
        let error = try late.error(timeout: .seconds(10))
        #expect((error as? TimeoutError)?.wasRunning == false, "it expired before any worker took it")
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(pool.statistics.pending == 0)
        sleeper.cancel()
        #expect(try pool.schedule(AddOne(x: 1)).result(timeout: .seconds(20)) == 2)
        pool.close()
        try pool.join()
        #expect(!FileManager.default.fileExists(atPath: path), "the task whose deadline passed in the queue ran")
    }

    @Test(arguments: startMethods)
    func aDeadlinePassedWhileRunningStopsTheWorker(startMethod: ProcessPool.StartMethod) async throws {
        var configuration = ProcessPool.Configuration(maxWorkers: 1)
        configuration.startMethod = startMethod
        let pool = try ProcessPool(configuration: configuration)
        let events = pool.events
        let exits = Task<[ProcessPool.WorkerExitReason], Never> {
            var reasons: [ProcessPool.WorkerExitReason] = []
            for await event in events { if case .workerExited(_, _, let reason) = event { reasons.append(reason) } }
            return reasons
        }
        #expect(try await pool.run(AddOne(x: 0)) == 1) // the worker is ready: the deadline passes while the job runs
        let started = ContinuousClock.now
        let hung = try pool.schedule(SleepJob(seconds: 600), timeout: .seconds(900), deadline: .now + .milliseconds(300))
        let error = await #expect(throws: TimeoutError.self) { try await hung.value }
        #expect(error?.wasRunning == true, "a worker took it and was stopped")
        // Wide: async tests can wait for a cooperative thread while the suite's blocking tests run.
        #expect(ContinuousClock.now - started < .seconds(60))
        #expect(try await pool.run(AddOne(x: 1)) == 2)
        pool.close()
        try await pool.join()
        let reasons = await exits.value // the stream ends at join
        #expect(reasons.first == .timedOut)
        #expect(reasons.last == .retired)
    }

    @Test(arguments: startMethods)
    func statisticsAreExactAfterAMixedRun(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        var futures: [any Sendable] = []
        for x in 0..<4 { futures.append(try pool.schedule(AddOne(x: x))) }
        for _ in 0..<4 { futures.append(try pool.schedule(ThrowCodable())) }
        for _ in 0..<2 { futures.append(try pool.schedule(SleepJob(seconds: 30), timeout: .milliseconds(100))) }
        futures.append(try pool.schedule(SleepJob(seconds: 30), deadline: .now + .milliseconds(100)))
        for status in 0..<3 { futures.append(try pool.schedule(ExitJob(status: Int32(status + 1)))) }
        let cancelled = try (0..<2).map { _ in try pool.schedule(SleepJob(seconds: 30)) }
        #expect(cancelled.allSatisfy { $0.cancel() })
        let map = try pool.map(AddOneFunction(), [1, 2, -1], chunkSize: 1)
        _ = try map.result(timeout: .seconds(30)).map { $0 }
        pool.close()
        try pool.join(timeout: .seconds(60))
        let stats = pool.statistics
        #expect(stats.completed == 4 + 2)
        #expect(stats.failed == 4 + 1)
        #expect(stats.timedOut == 3)
        #expect(stats.crashed == 3)
        #expect(stats.cancelled == 2)
        #expect(stats.completed + stats.failed + stats.timedOut + stats.crashed + stats.cancelled == 19)
        #expect(stats.pending == 0 && stats.running == 0 && stats.workers == 0)
        #expect(stats.workersStarted == stats.workersExited && stats.workersStarted >= 2)
        _ = futures
    }

    @Test(arguments: startMethods)
    func eventsReportStartsAndExitsWithTheirReasons(_ startMethod: ProcessPool.StartMethod) async throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let stream = pool.events
        let collector = Task<[ProcessPool.Event], Never> {
            var events: [ProcessPool.Event] = []
            for await event in stream { events.append(event) }
            return events
        }
        await #expect(throws: ProcessExpired.self) { try await pool.run(ExitJob(status: 3)) }
        #expect(try await pool.run(AddOne(x: 1)) == 2)
        pool.close()
        try await pool.join()
        let events = await collector.value
        let started = events.compactMap { if case .workerStarted(let pid) = $0 { pid } else { nil } }
        let exits = events.compactMap { if case .workerExited(let pid, let status, let reason) = $0 { (pid, status, reason) } else { nil } }
        #expect(started.count == 2 && exits.count == 2)
        #expect(exits.first?.1 == .exited(3) && exits.first?.2 == .crashed)
        #expect(exits.last?.2 == .retired)
        #expect(exits.last?.1 != nil) // a retiring worker takes its process group down with it: SIGKILL
        #expect(Set(started) == Set(exits.map(\.0)))
    }
}
