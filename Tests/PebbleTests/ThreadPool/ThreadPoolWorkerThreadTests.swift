import Dispatch
import Foundation
import Testing

@testable import Pebble
@testable import PebbleTestSupport

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The thread pool's workers (serial Dispatch queues): they go idle and start again without
/// losing a task, hold nothing while idle, and are replaced after `maxTasks`.
@Suite(.timeLimit(.minutes(2)))
struct ThreadPoolWorkerThreadTests {
    /// One task at a time, 5,000 times: each round trip goes through a drain that is running,
    /// ending or ended. A lost start would leave a task queued with no drain: its `result` would
    /// time out.
    @Test func roundTripsNeverLoseAWakeUp() throws {
        let pool = try ThreadPool(maxWorkers: 2)
        for n in 0..<5_000 {
            #expect(try pool.schedule { n * 2 }.result(timeout: .seconds(5)) == n * 2)
        }
        pool.close()
        try pool.join(timeout: .seconds(10))
    }

    /// Bursts of 1 to 64 tasks, each awaited before the next burst (the drains empty the queue,
    /// end, and start again), with a pause now and then.
    @Test func burstsWithPausesNeverLoseAWakeUp() throws {
        let pool = try ThreadPool(maxWorkers: 3)
        for round in 0..<300 {
            let futures = try (0..<(round % 64 + 1)).map { n in try pool.schedule { n + round } }
            for (n, future) in futures.enumerated() {
                #expect(try future.result(timeout: .seconds(5)) == n + round)
            }
            if round % 50 == 0 { usleep(1_000) }
        }
        pool.close()
        try pool.join(timeout: .seconds(10))
    }

    /// Threads blocked on the same future all return once it completes (they sleep on a shared
    /// condition variable, woken by one broadcast).
    @Test func manyThreadsWaitingOnOneFutureAllReturn() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let gate = Gate()
        let future = try pool.schedule {
            gate.wait()
            return 7
        }
        let returned = EventCounter()
        for _ in 0..<8 {
            DispatchQueue.global().async {
                if (try? future.result(timeout: .seconds(20))) == 7 { returned.record() }
            }
        }
        #expect(throws: PebbleError.self, "still gated") { try future.result(timeout: .milliseconds(50)) }
        gate.open()
        #expect(returned.wait(for: 8, seconds: 20))
        pool.close()
        try pool.join()
    }

    /// An idle pool holds no thread and polls nothing: once its tasks are done, every drain ends
    /// (its queue's thread goes back to Dispatch), though the pool is neither closed nor stopped.
    @Test func anIdlePoolHoldsNoDrain() throws {
        let pool = try ThreadPool(maxWorkers: 2)
        for x in 0..<200 { _ = try pool.schedule { x }.result() }
        let futures = try (0..<64).map { x in try pool.schedule { x } }
        for future in futures { _ = try future.result() }
        #expect(pool.activeDrains.wait(timeout: .now() + 5) == .success, "a drain still runs on an idle pool")
        #expect(pool.state.withLock { $0.machine.active } == 0)
        // And it still takes work afterwards.
        #expect(try pool.schedule { 5 }.result(timeout: .seconds(5)) == 5)
        pool.close()
        try pool.join()
    }

    /// A worker retired after `maxTasks` is a new worker on a fresh serial queue: a new id, and
    /// the initializer runs again, in it.
    @Test func aRetiredWorkerIsANewWorker() throws {
        let initializedAs = Box<[Int?]>([])
        let pool = try ThreadPool(maxWorkers: 1, maxTasks: 2) { initializedAs.update { $0.append(ThreadPool.currentWorkerID) } }
        let ids = try (0..<4).map { _ in try pool.schedule { ThreadPool.currentWorkerID } }.map { try $0.result(timeout: .seconds(10)) }
        #expect(ids[0] != nil && ids[0] == ids[1] && ids[2] == ids[3])
        #expect(ids[0] != ids[2])
        #expect(initializedAs.value == [ids[0], ids[2]])
        #expect(pool.state.withLock { $0.machine.slots[0].generation } == 2)
        pool.close()
        try pool.join()
    }

    /// Closures that block hold threads of their own (the workers' queues run on Dispatch's
    /// overcommit root queue): with more of them blocked than there are CPUs, work on
    /// `DispatchQueue.global()` still runs at once.
    @Test func blockedClosuresDoNotStarveOtherDispatchWork() async throws {
        let workers = 16
        let pool = try ThreadPool(maxWorkers: workers)
        let gate = Gate()
        let started = EventCounter()
        let scheduled = ContinuousClock.now
        let futures = try (0..<workers).map { _ in
            try pool.schedule {
                started.record()
                gate.wait()
            }
        }
        #expect(started.wait(for: workers, seconds: 20), "every closure got a thread of its own")
        // Overcommit threads start in milliseconds; the width-limited global queue adds about one
        // thread a second while its threads block.
        #expect(ContinuousClock.now - scheduled < .seconds(3), "the blocked closures waited for threads")
        let ranOnGlobal = EventCounter()
        DispatchQueue.global().async { ranOnGlobal.record() }
        #expect(ranOnGlobal.wait(seconds: 3), "global queue work ran at once while the pool's closures block")
        // (No such check for a Task: Swift's cooperative pool is shared with the other suites of
        // this run, whose blocking waits can hold both of its threads on a 2-core machine; the
        // pool's queues never run on it, which the global queue's check already shows.)
        gate.open()
        for future in futures { try await future.value }
        pool.close()
        try await pool.join()
    }

    /// `close()` of an idle pool: `join` returns at once.
    @Test func closeWakesParkedWorkersAndJoinReturnsPromptly() throws {
        let pool = try ThreadPool(maxWorkers: 4)
        let futures = try (0..<8).map { n in try pool.schedule { n } }
        for future in futures { _ = try future.result() }
        usleep(1_000) // the workers are parked by now (or about to be: either way they must exit)
        pool.close()
        let start = ContinuousClock.now
        try pool.join(timeout: .seconds(5))
        #expect(ContinuousClock.now - start < .seconds(2))
    }

}
