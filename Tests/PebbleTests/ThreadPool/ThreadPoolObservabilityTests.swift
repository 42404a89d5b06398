// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Synchronization
import Testing

@testable import Pebble
@testable import PebbleTestSupport

/// API.md Part 3 on the thread pool: latency summaries, waitingForRoom, Codable statistics,
/// elastic workers (idleTimeout, minWorkers), TimeoutError.wasRunning.
@Suite(.timeLimit(.minutes(2)))
struct ThreadPoolObservabilityTests {
    // MARK: latency summaries

    @Test func waitAndRunTimesCountStartedTasksAndMeasureThem() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        #expect(pool.statistics.waitTime == .empty && pool.statistics.runTime == .empty)
        let gate = Gate()
        let started = EventCounter()
        // Runs at least 250 ms after the gate opens, which is after `queued` was scheduled.
        let blocker = try pool.schedule {
            started.record()
            gate.wait()
            Thread.sleep(forTimeInterval: 0.25)
        }
        #expect(started.wait())
        let queued = try pool.schedule { 1 }
        let cancelled = try pool.schedule { 2 }
        #expect(cancelled.cancel())
        gate.open()
        try blocker.result()
        #expect(try queued.result() == 1)
        // A map chunk counts as one task: 10 inputs in 2 chunks.
        #expect(try pool.map(0..<10, chunkSize: 5) { $0 }.result().values().count == 10)
        pool.close()
        try pool.join()
        let stats = pool.statistics
        // The cancelled task never started: not in either summary.
        #expect(stats.waitTime.count == 4)
        #expect(stats.runTime.count == 4)
        // `queued` waited behind the blocker's 250 ms; the blocker ran at least that long (max is exact).
        #expect(stats.waitTime.max >= .milliseconds(240) && stats.waitTime.max < .seconds(60))
        #expect(stats.runTime.max >= .milliseconds(240) && stats.runTime.max < .seconds(60))
        #expect(
            stats.runTime.p50 <= stats.runTime.p90 && stats.runTime.p90 <= stats.runTime.p99
                && stats.runTime.p99 <= stats.runTime.max)
        // Of four runs three are tiny: the median is far below the blocker's.
        #expect(stats.runTime.p50 < .milliseconds(200))
    }

    @Test func manyTasksAreAllCounted() throws {
        let pool = try ThreadPool(maxWorkers: 2)
        let futures = try (0..<2_000).map { n in try pool.schedule { n } }
        for future in futures { _ = try future.result() }
        pool.close()
        try pool.join()
        #expect(pool.statistics.waitTime.count == 2_000)
        #expect(pool.statistics.runTime.count == 2_000)
    }

    // MARK: waitingForRoom

    @Test func waitingForRoomCountsRunCallsWaitingForRoom() async throws {
        var configuration = ThreadPool.Configuration(maxWorkers: 1)
        configuration.maxPending = 1
        let pool = try ThreadPool(configuration: configuration)
        let (stream, continuation) = AsyncStream<Void>.makeStream()
        pool.roomWaiterAdded.withLock { $0 = { continuation.yield() } }
        var waiting = stream.makeAsyncIterator()
        let gate = Gate()
        let started = AsyncEventCounter()
        _ = try pool.schedule {
            started.record()
            gate.wait()
        }
        await started.reached()
        _ = try pool.schedule { 0 }
        #expect(pool.statistics.waitingForRoom == 0)
        let first = Task { try await pool.run { 1 } }
        await waiting.next()
        let second = Task { try await pool.run { 2 } }
        await waiting.next()
        #expect(pool.statistics.waitingForRoom == 2)
        first.cancel()
        await #expect(throws: CancellationError.self) { try await first.value }
        #expect(pool.statistics.waitingForRoom == 1)
        gate.open()
        #expect(try await second.value == 2)
        #expect(pool.statistics.waitingForRoom == 0)
        pool.close()
        try await pool.join()
    }

    // MARK: Codable

    @Test func statisticsEncodeAsJSONWithDurationsInSeconds() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        _ = try pool.schedule { Thread.sleep(forTimeInterval: 0.05) }.result()
        pool.close()
        try pool.join()
        let stats = pool.statistics
        let data = try JSONEncoder().encode(stats)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["completed"] as? Int == 1)
        #expect(object["waitingForRoom"] as? Int == 0)
        let run = try #require(object["runTime"] as? [String: Any])
        #expect(run["count"] as? Int == 1)
        let max = try #require(run["max"] as? Double)
        #expect(max >= 0.045 && max < 60, "seconds, not nanoseconds")
        let decoded = try JSONDecoder().decode(ThreadPool.Statistics.self, from: data)
        #expect(decoded.completed == 1 && decoded.runTime.count == 1)
        #expect(abs((decoded.runTime.max - stats.runTime.max).seconds) < 1e-6)
    }

    // MARK: elastic workers

    @Test func minWorkersAndIdleTimeoutAreValidated() {
        for minWorkers in [-1, 3] {
            var configuration = ThreadPool.Configuration(maxWorkers: 2)
            configuration.minWorkers = minWorkers
            #expect(pebbleCode(errorOf { try ThreadPool(configuration: configuration) }) == .invalidArgument)
        }
        var configuration = ThreadPool.Configuration(maxWorkers: 2)
        configuration.idleTimeout = .seconds(-1)
        #expect(pebbleCode(errorOf { try ThreadPool(configuration: configuration) }) == .invalidArgument)
        configuration.idleTimeout = .seconds(1)
        configuration.minWorkers = 2
        #expect(errorOf { try ThreadPool(configuration: configuration) } == nil)
        #expect(ThreadPool.Configuration().idleTimeout == nil && ThreadPool.Configuration().minWorkers == 0)
    }

    /// A pool of two workers with `idleTimeout` 0.2 s, whose initializer counts its runs, and
    /// the ids of the workers its idle timer ends.
    func elasticPool(minWorkers: Int) throws -> (
        ThreadPool, initializerRuns: Box<Int>, ended: Box<[Int]>, firings: EventCounter, lastRearmed: Box<Bool>
    ) {
        let runs = Box(0)
        var configuration = ThreadPool.Configuration(maxWorkers: 2)
        configuration.idleTimeout = .milliseconds(200)
        configuration.minWorkers = minWorkers
        configuration.initializer = { runs.update { $0 += 1 } }
        let pool = try ThreadPool(configuration: configuration)
        let ended = Box<[Int]>([])
        let firings = EventCounter()
        let rearmed = Box(true)
        pool.idleWorkersEnded.withLock {
            $0 = { ids, again in
                ended.update { $0 += ids }
                rearmed.value = again
                firings.record()
            }
        }
        return (pool, runs, ended, firings, rearmed)
    }

    /// Runs two tasks at once, so that both workers start; returns their ids.
    func occupyBothWorkers(_ pool: ThreadPool) throws -> Set<Int> {
        let gate = Gate()
        let started = EventCounter()
        let futures = try (0..<2).map { _ in
            try pool.schedule { () -> Int in
                started.record()
                gate.wait()
                return ThreadPool.currentWorkerID ?? -1
            }
        }
        #expect(started.wait(for: 2))
        gate.open()
        return Set(try futures.map { try $0.result() })
    }

    @Test func idleWorkersEndAndComeBackOnDemand() throws {
        let (pool, runs, ended, firings, _) = try elasticPool(minWorkers: 0)
        let first = try occupyBothWorkers(pool)
        #expect(first.count == 2 && runs.value == 2)
        // Both end once idle for 0.2 s (one firing or two): wait on the timer's events.
        while ended.value.count < 2 {
            #expect(firings.wait(seconds: 20), "the idle timer fired")
            if firings.value > 10 { break }
        }
        #expect(Set(ended.value) == first)
        #expect(pool.state.withLock { $0.machine.liveWorkers } == 0)
        // New work starts new workers: new ids, the initializer again.
        let second = try occupyBothWorkers(pool)
        #expect(second.count == 2 && second.isDisjoint(with: first))
        #expect(runs.value == 4)
        pool.close()
        try pool.join()
    }

    @Test func idleWorkersNeverEndBelowMinWorkers() throws {
        let (pool, runs, ended, firings, lastRearmed) = try elasticPool(minWorkers: 1)
        let first = try occupyBothWorkers(pool)
        #expect(runs.value == 2)
        // Firings until one leaves the timer disarmed: nothing more may end.
        repeat {
            #expect(firings.wait(seconds: 20), "the idle timer fired")
        } while lastRearmed.value && firings.value < 10
        #expect(ended.value.count == 1 && first.contains(ended.value[0]))
        let (live, armed) = pool.state.withLock { ($0.machine.liveWorkers, $0.machine.idleTimerDeadline) }
        #expect(live == 1 && armed == nil)
        // The worker left is still initialized: one task on it runs no initializer; a second
        // worker, started on demand, runs it once.
        _ = try occupyBothWorkers(pool)
        #expect(runs.value == 3)
        pool.close()
        try pool.join()
    }

    @Test func aBurstAfterIdleRunsEverything() async throws {
        let (pool, _, ended, firings, _) = try elasticPool(minWorkers: 0)
        _ = try occupyBothWorkers(pool)
        while ended.value.count < 2 {
            #expect(firings.wait(seconds: 20))
            if firings.value > 10 { break }
        }
        let futures = try (0..<500).map { n in try pool.schedule { n * 2 } }
        let mapped = try pool.map(0..<500, chunkSize: 7) { $0 + 1 }
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for n in 0..<100 { group.addTask { try await pool.run { n } } }
            return try await group.reduce(0, +)
        }
        var scheduled: [Int] = []
        for future in futures { scheduled.append(try await future.value) }
        #expect(scheduled == (0..<500).map { $0 * 2 })
        var mappedValues: [Int] = []
        for await outcome in mapped.outcomes { mappedValues.append(try outcome.get()) }
        #expect(mappedValues == Array(1...500))
        #expect(values == (0..<100).reduce(0, +))
        pool.close()
        try await pool.join()
        #expect(pool.statistics.completed == 1_102)
    }

    // MARK: TimeoutError.wasRunning

    @Test func timeoutErrorSaysWhetherTheTaskRan() {
        let ran = TimeoutError(timeout: .seconds(2))
        let queued = TimeoutError(timeout: .seconds(2), wasRunning: false)
        #expect(ran.wasRunning && !queued.wasRunning)
        #expect(ran != queued)
        #expect(ran == TimeoutError(timeout: .seconds(2), wasRunning: true))
        #expect(queued.description.contains("expired before it started"))
        #expect(!ran.description.contains("before it started"))
    }
}
