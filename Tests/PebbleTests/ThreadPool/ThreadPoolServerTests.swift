// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Synchronization
import Testing

@testable import Pebble
@testable import PebbleTestSupport

/// API.md Part 2 on the thread pool: maxPending, deadlines, statistics.
@Suite(.timeLimit(.minutes(2)))
struct ThreadPoolServerTests {
    func pool(workers: Int = 1, maxPending: Int? = nil) throws -> ThreadPool {
        var configuration = ThreadPool.Configuration(maxWorkers: workers)
        configuration.maxPending = maxPending
        return try ThreadPool(configuration: configuration)
    }

    /// The counters only (the latency summaries set aside), to compare with expected counts.
    func counts(_ statistics: ThreadPool.Statistics) -> ThreadPool.Statistics {
        var statistics = statistics
        statistics.waitTime = .empty
        statistics.runTime = .empty
        return statistics
    }

    /// Yields each time an async `run` starts waiting for room.
    func waiterEvents(_ pool: ThreadPool) -> AsyncStream<Void>.Iterator {
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        pool.roomWaiterAdded.withLock { $0 = { continuation.yield() } }
        return stream.makeAsyncIterator()
    }

    // MARK: maxPending

    @Test func fullQueueThrowsQueueFullAndEnqueuesNothing() throws {
        let pool = try pool(maxPending: 2)
        let gate = Gate()
        let started = EventCounter()
        let ran = Box<[Int]>([])
        let blocker = try pool.schedule {
            started.record()
            gate.wait()
        }
        #expect(started.wait())
        let queued = try (1...2).map { n in try pool.schedule { ran.update { $0.append(n) } } }
        #expect(pool.statistics.pending == 2)
        #expect(pebbleCode(errorOf { try pool.schedule { ran.update { $0.append(3) } } }) == .queueFull)
        #expect(pebbleCode(errorOf { try pool.map([4]) { n in ran.update { $0.append(n) } } }) == .queueFull)
        #expect(pool.statistics.pending == 2)
        gate.open()
        try blocker.result()
        for future in queued { try future.result() }
        #expect(ran.value == [1, 2])
        // A map that could never fit throws even on an empty queue; the same inputs in 2 chunks fit.
        #expect(pebbleCode(errorOf { try pool.map(0..<3) { $0 } }) == .queueFull)
        #expect(try pool.map(0..<4, chunkSize: 2) { $0 }.result().values() == [0, 1, 2, 3])
        pool.close()
        try pool.join()
        #expect(pool.statistics.completed == 7)
    }

    @Test func runWaitsForRoomInFIFOOrder() async throws {
        let pool = try pool(maxPending: 1)
        let gate = Gate()
        let started = AsyncEventCounter()
        var waiting = waiterEvents(pool)
        let order = Box<[String]>([])
        let blocker = try pool.schedule {
            started.record()
            gate.wait()
        }
        await started.reached()
        let filler = try pool.schedule { order.update { $0.append("filler") } }
        var runs: [Task<Void, any Error>] = []
        for (index, name) in ["a", "b", "c"].enumerated() {
            runs.append(Task { try await pool.run { order.update { $0.append(name) } } })
            // Each starts waiting before the next is created, so their order is known.
            await waiting.next()
            #expect(pool.tally.waiters.load(ordering: .relaxed) == index + 1)
        }
        // Waiting runs are ahead in line: schedule does not jump the queue.
        #expect(pebbleCode(errorOf { try pool.schedule { 0 } }) == .queueFull)
        gate.open()
        for run in runs { try await run.value }
        _ = try await blocker.value
        _ = try await filler.value
        #expect(order.value == ["filler", "a", "b", "c"])
        pool.close()
        try await pool.join()
    }

    @Test func cancelledWaitingRunThrowsAndEnqueuesNothing() async throws {
        let pool = try pool(maxPending: 1)
        let gate = Gate()
        let started = AsyncEventCounter()
        var waiting = waiterEvents(pool)
        let ran = Box<[String]>([])
        _ = try pool.schedule {
            started.record()
            gate.wait()
        }
        await started.reached()
        _ = try pool.schedule { ran.update { $0.append("filler") } }
        let cancelled = Task { try await pool.run { ran.update { $0.append("cancelled") } } }
        await waiting.next()
        let next = Task { try await pool.run { ran.update { $0.append("next") } } }
        await waiting.next()
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(pool.statistics.pending == 1)
        #expect(pool.tally.waiters.load(ordering: .relaxed) == 1)
        gate.open()
        try await next.value
        pool.close()
        try await pool.join()
        #expect(ran.value == ["filler", "next"])
        // Enqueued nothing: three tasks ran, none was counted cancelled.
        #expect(counts(pool.statistics) == ThreadPool.Statistics(completed: 3))
    }

    @Test func waitingRunsFailWhenThePoolCloses() async throws {
        let pool = try pool(maxPending: 0)
        var waiting = waiterEvents(pool)
        let run = Task { try await pool.run { 1 } }
        await waiting.next()
        pool.close()
        await #expect { try await run.value } throws: { pebbleCode($0) == .poolNotRunning }
        try await pool.join()
    }

    // MARK: deadlines

    @Test func queuedTaskPastItsDeadlineNeverRuns() throws {
        let pool = try pool()
        let gate = Gate()
        let started = EventCounter()
        let ran = Box(false)
        let blocker = try pool.schedule {
            started.record()
            gate.wait()
        }
        #expect(started.wait())
        let scheduledAt = ContinuousClock.now
        let late = try pool.schedule(deadline: .now + .milliseconds(100)) { ran.value = true }
        let error = try late.error(timeout: .seconds(5))
        let timeout = try #require(error as? TimeoutError)
        #expect(timeout.timeout > .zero && timeout.timeout <= .milliseconds(100))
        #expect(!timeout.wasRunning, "it expired in the queue: it never ran")
        #expect(ContinuousClock.now - scheduledAt >= .milliseconds(100))
        // It left the queue at once, while the only worker is still busy.
        #expect(pool.statistics.pending == 0)
        #expect(pool.statistics.timedOut == 1)
        gate.open()
        try blocker.result()
        pool.close()
        try pool.join()
        #expect(!ran.value)
        #expect(counts(pool.statistics) == ThreadPool.Statistics(completed: 1, timedOut: 1))
    }

    @Test func runningTaskPastItsDeadlineFailsWhileTheClosureRunsOn() throws {
        let pool = try pool()
        let gate = Gate()
        let started = EventCounter()
        let finished = EventCounter()
        let future = try pool.schedule(deadline: .now + .milliseconds(150)) {
            started.record()
            gate.wait()
            finished.record()
            return 1
        }
        #expect(started.wait())
        let error = try #require(try future.error(timeout: .seconds(5)) as? TimeoutError)
        #expect(error.wasRunning, "it expired while its closure ran")
        #expect(finished.value == 0)
        #expect(pool.statistics.running == 1)
        gate.open()
        #expect(finished.wait())
        pool.close()
        try pool.join()
        #expect(counts(pool.statistics) == ThreadPool.Statistics(timedOut: 1))
    }

    @Test func deadlineAlreadyPastFailsWithoutRunning() async throws {
        let pool = try pool()
        let ran = Box(false)
        await #expect {
            try await pool.run(deadline: .now - .seconds(1)) { ran.value = true }
        } throws: { ($0 as? TimeoutError)?.wasRunning == false }
        pool.close()
        try await pool.join()
        #expect(!ran.value)
        #expect(pool.statistics.timedOut == 1)
    }

    @Test func deadlineMetInTimeIsAValue() throws {
        let pool = try pool()
        #expect(try pool.schedule(deadline: .now + .seconds(60)) { 7 }.result() == 7)
        pool.close()
        try pool.join()
        #expect(counts(pool.statistics) == ThreadPool.Statistics(completed: 1))
    }

    // MARK: statistics

    @Test func statisticsAreExactAfterAMixedRun() async throws {
        let pool = try pool(workers: 2)
        let gate = Gate()
        let started = AsyncEventCounter()
        // Both workers held: one by a task past its deadline, one by a map chunk past its timeout.
        let slowDeadline = try pool.schedule(deadline: .now + .milliseconds(100)) {
            started.record()
            gate.wait()
            return 0
        }
        let slowMap = try pool.map(0..<3, chunkSize: 3, timeout: .milliseconds(100)) { n in
            if n == 0 { started.record() }
            gate.wait()
            return n
        }
        await started.reached(2)
        let queuedDeadline = try pool.schedule(deadline: .now + .milliseconds(50)) { 1 }
        let cancelled = try (0..<2).map { _ in try pool.schedule { 1 } }
        for future in cancelled { #expect(future.cancel()) }
        let cancelledRun = Task { try await pool.run { 1 } }
        let values = try (0..<5).map { n in try pool.schedule { n } }
        let throwers = try (0..<3).map { _ in try pool.schedule { () throws -> Int in throw TestFailure(reason: "no") } }
        let mixedMap = try pool.map(0..<6, chunkSize: 2) { n in
            if n == 0 { throw TestFailure(reason: "zero") }
            return n
        }
        cancelledRun.cancel()
        await #expect(throws: CancellationError.self) { try await cancelledRun.value }
        #expect(await slowDeadline.outcome.failure is TimeoutError)
        #expect(await queuedDeadline.outcome.failure is TimeoutError)
        for await outcome in slowMap.outcomes { #expect(outcome.failure is TimeoutError) }
        #expect(pool.statistics.running == 2)
        gate.open()
        pool.close()
        try await pool.join()
        for (n, future) in values.enumerated() { #expect(try await future.value == n) }
        for future in throwers { #expect(await future.outcome.failure is TestFailure) }
        var succeeded: [Bool] = []
        for await outcome in mixedMap.outcomes { succeeded.append(outcome.failure == nil) }
        #expect(succeeded == [false, true, true, true, true, true])
        let stats = pool.statistics
        #expect(counts(stats) == ThreadPool.Statistics(completed: 10, failed: 4, timedOut: 5, cancelled: 3))
        // 1 + 3 + 1 + 2 + 1 + 5 + 3 + 6 tasks and inputs scheduled.
        #expect(stats.completed + stats.failed + stats.timedOut + stats.cancelled == 22)
    }

    @Test func stopCountsDroppedTasksAsCancelled() throws {
        let pool = try pool()
        let gate = Gate()
        let started = EventCounter()
        _ = try pool.schedule {
            started.record()
            gate.wait()
        }
        #expect(started.wait())
        let dropped = try (0..<4).map { _ in try pool.schedule { 1 } }
        _ = try pool.map(0..<3) { $0 }
        #expect(pool.statistics.pending == 7)
        pool.stop()
        for future in dropped { #expect(try future.error() is CancellationError) }
        gate.open()
        try pool.join()
        #expect(counts(pool.statistics) == ThreadPool.Statistics(completed: 1, cancelled: 7))
    }
}
