// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Synchronization
import Testing

@testable import Pebble
@testable import PebbleTestSupport

/// Pebble's test_thread_pool.py, ported, plus the cases where Pebble fails its users.
@Suite(.timeLimit(.minutes(2)))
struct ThreadPoolTests {
    @Test func singleFuture() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        #expect(try pool.schedule { 1 + 1 }.result() == 2)
        pool.close()
        try pool.join()
    }

    @Test func multipleFutures() throws {
        let sum = try withThreadPool(maxWorkers: 2) { pool in
            try (0..<5).map { _ in try pool.schedule { 1 } }.reduce(0) { try $0 + $1.result() }
        }
        #expect(sum == 5)
    }

    @Test func callbackReceivesTheValue() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let received = Box<Int?>(nil)
        let done = EventCounter()
        try pool.schedule { 2 }.whenComplete {
            received.value = try? $0.get()
            done.record()
        }
        #expect(done.wait())
        #expect(received.value == 2)
        pool.stop()
    }

    @Test func errorIsTheOriginalError() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let future = try pool.schedule { () throws -> Int in throw TestFailure(reason: "BOOM!") }
        #expect(try future.error() as? TestFailure == TestFailure(reason: "BOOM!"))
        let seen = Box<TestFailure?>(nil)
        let done = EventCounter()
        future.whenComplete {
            seen.value = $0.failure as? TestFailure
            done.record()
        }
        #expect(done.wait())
        #expect(seen.value == TestFailure(reason: "BOOM!"))
        // exception_isolated: the pool goes on.
        #expect(try pool.schedule { 2 }.result() == 2)
        pool.stop()
    }

    @Test func returnedErrorIsAValue() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let value = try pool.schedule { TestFailure(reason: "returned") }.result()
        #expect(value == TestFailure(reason: "returned"))
        pool.stop()
    }

    @Test func cancelPendingTaskNeverRuns() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let gate = Gate()
        let started = EventCounter()
        let first = try pool.schedule {
            started.record()
            gate.wait()
            return 1
        }
        #expect(started.wait())
        let ran = Box(false)
        let second = try pool.schedule {
            ran.value = true
            return 2
        }
        let callbackError = Box<(any Error)?>(nil)
        let called = EventCounter()
        second.whenComplete {
            callbackError.value = $0.failure
            called.record()
        }
        #expect(second.cancel())
        #expect(!first.cancel(), "a running thread task cannot be cancelled")
        gate.open()
        #expect(try first.result() == 1)
        #expect(called.wait())
        #expect(callbackError.value is CancellationError)
        pool.close()
        try pool.join()
        #expect(!ran.value)
    }

    @Test func differentWorkers() throws {
        let pool = try ThreadPool(maxWorkers: 2)
        let bothStarted = DispatchGroup()
        bothStarted.enter()
        bothStarted.enter()
        let futures = try (0..<5).map { index in
            try pool.schedule { () -> Int? in
                if index < 2 {
                    bothStarted.leave()
                    _ = bothStarted.wait(timeout: .now() + 10)
                }
                return ThreadPool.currentWorkerID
            }
        }
        let ids = Set(try futures.map { try #require(try $0.result()) })
        #expect(ids.count == 2)
        pool.close()
        try pool.join()
    }

    @Test func maxTasksReplacesTheWorkerAndRunsTheInitializerAgain() throws {
        let initialized = EventCounter()
        let pool = try ThreadPool(maxWorkers: 1, maxTasks: 2) { initialized.record() }
        let ids = try (0..<4).map { _ in try pool.schedule { ThreadPool.currentWorkerID } }.map { try $0.result() }
        #expect(Set(ids).count == 2)
        #expect(ids[0] == ids[1] && ids[2] == ids[3])
        #expect(initialized.value == 2)
        pool.close()
        try pool.join()
    }

    @Test func initializerRunsBeforeTasks() throws {
        let value = Box(0)
        let pool = try ThreadPool(maxWorkers: 1) { value.value = 1 }
        #expect(try pool.schedule { value.value }.result() == 1)
        pool.stop()
    }

    @Test func brokenInitializerFailsPendingFuturesAndTheNextSchedule() throws {
        let gate = Gate()
        let pool = try ThreadPool(maxWorkers: 1) {
            gate.wait()
            throw TestFailure(reason: "init")
        }
        let futures = try (0..<3).map { _ in try pool.schedule { 1 } }
        gate.open()
        for future in futures {
            #expect(pebbleCode(try future.error(timeout: .seconds(10))) == .initializerFailed)
        }
        #expect(!pool.isActive)
        #expect(pebbleCode(errorOf { try pool.schedule { 1 } }) == .initializerFailed)
        try pool.join()
    }

    @Test func activeStates() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        _ = try pool.schedule { 1 }
        #expect(pool.isActive)
        pool.close()
        #expect(pool.isActive, "closed, still running queued work")
        try pool.join()
        #expect(!pool.isActive)
        let stopped = try ThreadPool(maxWorkers: 1)
        stopped.stop()
        try stopped.join()
        #expect(!stopped.isActive)
        var escaped: ThreadPool?
        try withThreadPool(maxWorkers: 1) { escaped = $0 }
        #expect(escaped?.isActive == false)
    }

    /// The blocking `withThreadPool` keeps its async twin's rule: a body that throws stops the
    /// pool, so queued tasks never run and their futures fail.
    @Test func blockingWithThreadPoolStopsThePoolWhenTheBodyThrows() throws {
        let gate = Gate()
        let queued = Box<Future<Int>?>(nil)
        #expect(throws: TestFailure.self) {
            try withThreadPool(maxWorkers: 1) { pool in
                _ = try pool.schedule { gate.wait() }
                let future = try pool.schedule { 1 }
                queued.value = future
                // The stop fails the queued task; only then may the running one end (join waits for it).
                future.whenComplete { _ in gate.open() }
                throw TestFailure(reason: "the body failed")
            }
        }
        #expect(throws: CancellationError.self) { try queued.value?.result(timeout: .seconds(5)) }
    }

    @Test func closeRunsEveryQueuedTask() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let futures = try (0..<10).map { n in try pool.schedule { n } }
        pool.close()
        try pool.join()
        #expect(futures.allSatisfy { $0.isDone })
        #expect(try futures.map { try $0.result() } == Array(0..<10))
    }

    @Test func stopCompletesEveryFuture() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let gate = Gate()
        let started = EventCounter()
        let futures = try (0..<10).map { n in
            try pool.schedule {
                started.record()
                gate.wait()
                return n
            }
        }
        #expect(started.wait())
        pool.stop()
        #expect(futures.dropFirst().allSatisfy { $0.isCancelled }, "queued tasks are dropped at once")
        #expect(!futures[0].isDone, "the running task finishes on its own")
        gate.open()
        try pool.join()
        #expect(futures.allSatisfy { $0.isDone })
        #expect(try futures[0].result() == 0)
    }

    @Test func stopFromInsideATask() throws {
        let pool = try ThreadPool(maxWorkers: 2)
        let future = try pool.schedule {
            pool.stop()
            return 1
        }
        #expect(try future.result() == 1)
        try pool.join(timeout: .seconds(10))
        #expect(!pool.isActive)
    }

    @Test func stopFromACallback() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let stopped = EventCounter()
        try pool.schedule { 1 }.whenComplete { _ in
            pool.stop()
            stopped.record()
        }
        #expect(stopped.wait())
        #expect(pebbleCode(errorOf { try pool.schedule { 1 } }) == .poolNotRunning)
        #expect(!pool.isActive)
    }

    @Test func joinOnARunningPoolThrows() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        #expect(pebbleCode(errorOf { try pool.join() }) == .poolStillRunning)
        pool.stop()
    }

    @Test func joinTimesOutWhileTasksRun() throws {
        let pool = try ThreadPool(maxWorkers: 2)
        let gate = Gate()
        _ = try (0..<2).map { _ in try pool.schedule { gate.wait() } }
        pool.close()
        #expect(pebbleCode(errorOf { try pool.join(timeout: .milliseconds(200)) }) == .waitTimedOut)
        gate.open()
        pool.stop()
        try pool.join(timeout: .seconds(10))
    }

    @Test func joinFromInsideATaskFailsInsteadOfDeadlocking() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let future = try pool.schedule { () -> PebbleError.Code? in
            pool.close()
            return pebbleCode(errorOf { try pool.join() })
        }
        #expect(try future.result(timeout: .seconds(10)) == .wouldDeadlock)
        try pool.join()
    }

    @Test func scheduleAfterCloseThrows() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        pool.close()
        #expect(pebbleCode(errorOf { try pool.schedule { 1 } }) == .poolNotRunning)
        #expect(pebbleCode(errorOf { try pool.map([1]) { $0 } }) == .poolNotRunning)
    }

    @Test func invalidArgumentsNameTheArgument() throws {
        func message(_ body: () throws -> Void) -> String? {
            guard let error = Result(catching: body).failure as? PebbleError, error.code == .invalidArgument else { return nil }
            return error.message
        }
        #expect(message { _ = try ThreadPool(maxWorkers: 0) }?.contains("maxWorkers") == true)
        #expect(message { _ = try ThreadPool(maxTasks: -1) }?.contains("maxTasks") == true)
        let pool = try ThreadPool(maxWorkers: 1)
        #expect(message { _ = try pool.map([1], chunkSize: 0) { $0 } }?.contains("chunkSize") == true)
        #expect(message { _ = try pool.map([1], timeout: .seconds(-1)) { $0 } }?.contains("timeout") == true)
        pool.close()
        #expect(message { try pool.join(timeout: .seconds(-1)) }?.contains("timeout") == true)
    }

    @Test func neverMoreThanMaxWorkersAtOnce() throws {
        let pool = try ThreadPool(maxWorkers: 3)
        let running = Box(0)
        let peak = Box(0)
        let futures = try (0..<300).map { _ in
            try pool.schedule {
                running.update { $0 += 1 }
                peak.update { [now = running.value] in $0 = max($0, now) }
                usleep(100)
                running.update { $0 -= 1 }
            }
        }
        for future in futures { try future.result() }
        #expect(peak.value <= 3)
        #expect(peak.value >= 1)
        pool.stop()
    }

    @Test func aBlockedTaskHoldsNoQueuedTaskHostage() throws {
        let pool = try ThreadPool(maxWorkers: 2)
        let gate = Gate()
        // Scheduled at once, the queue is deep: workers take tasks in batches, and the blocked task
        // sits in the middle of one.
        let futures = try (0..<2_000).map { n in try pool.schedule { n == 500 ? (gate.wait(), -1).1 : n + 1 } }
        let blocked = futures[500]
        for (index, future) in futures.enumerated() where index != 500 {
            #expect(try future.result(timeout: .seconds(30)) > 0, "finished while the first task is still blocked")
        }
        #expect(!blocked.isDone)
        gate.open()
        #expect(try blocked.result() == -1)
        pool.stop()
    }

    @Test func aHundredThousandTasksThroughTwoWorkers() throws {
        let pool = try ThreadPool(maxWorkers: 2)
        let futures = try (0..<100_000).map { n in try pool.schedule { n + 1 } }
        pool.close()
        try pool.join(timeout: .seconds(60))
        var sum = 0
        for future in futures { sum += try future.result() }
        #expect(sum == (1...100_000).reduce(0, +))
    }

    @Test func runAwaitsTheValue() async throws {
        let pool = try ThreadPool(maxWorkers: 1)
        #expect(try await pool.run { 21 * 2 } == 42)
        pool.stop()
    }

    @Test func cancelledRunTaskThatIsPendingNeverStarts() async throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let gate = Gate()
        let started = EventCounter()
        let blocker = try pool.schedule {
            started.record()
            gate.wait()
        }
        #expect(started.wait())
        let ran = Box(false)
        let waiter = Task { try await pool.run { ran.value = true } }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        gate.open()
        try await blocker.value
        pool.close()
        try await Task.detached { try joinBlocking(pool) }.value
        #expect(!ran.value)
    }

    // MARK: - map

    @Test func mapKeepsOrder() throws {
        let pool = try ThreadPool(maxWorkers: 2)
        #expect(try pool.map([1, 2, 3]) { $0 }.result().values() == [1, 2, 3])
        #expect(try pool.map([0]) { $0 }.result().values() == [0])
        #expect(try pool.map(zip([1, 2, 3], [1, 2])) { $0 + $1 }.result().values() == [2, 4])
        #expect(try pool.map(1...100, chunkSize: 7) { $0 * 2 }.result().values() == (1...100).map { $0 * 2 })
        pool.stop()
    }

    @Test func mapOfNothingIsDoneAtOnce() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let future = try pool.map([Int]()) { $0 }
        #expect(future.isDone)
        #expect(try future.result(timeout: .zero).values() == [])
        pool.stop()
    }

    @Test func mapErrorFailsOnlyThatInput() throws {
        let pool = try ThreadPool(maxWorkers: 2)
        let outcomes = Array(
            try pool.map(["1", "a", "3"], chunkSize: 3) { text -> Int in
                guard let n = Int(text) else { throw TestFailure(reason: text) }
                return n
            }.result())
        #expect(outcomes.count == 3)
        #expect(try outcomes[0].get() == 1)
        #expect(outcomes[1].failure as? TestFailure == TestFailure(reason: "a"))
        #expect(try outcomes[2].get() == 3)
        pool.stop()
    }

    @Test func mapCancel() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let gate = Gate()
        let future = try pool.map(0..<5) { n -> Int in
            if n == 1 { gate.wait() }
            return n
        }
        var iterator = try future.result().makeIterator()
        #expect(try iterator.next()?.get() == 0)
        #expect(future.cancel())
        gate.open()
        let rest = (0..<4).compactMap { _ in iterator.next() }
        #expect(iterator.next() == nil)
        #expect(rest.count == 4)
        #expect(rest.dropFirst().allSatisfy { $0.failure is CancellationError })
        #expect((try? rest[0].get()) == 1 || rest[0].failure is CancellationError)
        pool.stop()
    }

    @Test func mapChunkTimeoutFailsEachInputOfTheChunk() throws {
        let pool = try ThreadPool(maxWorkers: 2)
        let gate = Gate()
        let future = try pool.map(0..<6, chunkSize: 3, timeout: .milliseconds(200)) { n -> Int in
            if n >= 3 { gate.wait() }
            return n
        }
        let outcomes = Array(try future.result())
        #expect(try outcomes[0..<3].map { try $0.get() } == [0, 1, 2])
        #expect(outcomes[3...].allSatisfy { $0.failure is TimeoutError })
        gate.open()
        pool.stop()
    }

    @Test func mapOutcomesStreamInOrder() async throws {
        let pool = try ThreadPool(maxWorkers: 2)
        let future = try pool.map(0..<50, chunkSize: 4) { $0 * 3 }
        var values: [Int] = []
        for await outcome in future.outcomes { values.append(try outcome.get()) }
        #expect(values == (0..<50).map { $0 * 3 })
        pool.stop()
    }
}

@Suite(.timeLimit(.minutes(1)))
struct ConcurrentThreadTests {
    @Test func decoratedResult() throws {
        #expect(try Concurrent.thread { 1 + 1 }.result() == 2)
    }

    @Test func callbackReceivesTheValue() {
        let received = Box<Int?>(nil)
        let done = EventCounter()
        Concurrent.thread { 2 }.whenComplete {
            received.value = try? $0.get()
            done.record()
        }
        #expect(done.wait())
        #expect(received.value == 2)
    }

    @Test func errorIsTheOriginalError() throws {
        let future = Concurrent.thread { () throws -> Int in throw TestFailure(reason: "thread") }
        #expect(try future.error() as? TestFailure == TestFailure(reason: "thread"))
    }

    @Test func returnedErrorIsAValue() throws {
        #expect(try Concurrent.thread { TestFailure(reason: "value") }.result() == TestFailure(reason: "value"))
    }

    @Test func threadHasTheGivenName() throws {
        let name = try Concurrent.thread(name: "concurrent_thread_name") {
            try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8).trimmingCharacters(in: .newlines)
        }.result()
        #expect(name == "concurrent_thre", "Linux keeps 15 characters of a thread name")
    }

    @Test func eachCallRunsOnANewThread() throws {
        let a = try Concurrent.thread { pthread_self() }.result()
        let b = try Concurrent.thread { pthread_self() }.result()
        let main = pthread_self()
        #expect(a != main && b != main)
    }
}

/// Pebble's test_asynchronous_thread.py: the same cases, awaited.
@Suite(.timeLimit(.minutes(1)))
struct AsynchronousThreadTests {
    @Test func decoratedResultAwaited() async throws {
        #expect(try await Concurrent.thread { 1 + 1 }.value == 2)
    }

    @Test func errorAwaitedIsTheOriginalError() async {
        await #expect(throws: TestFailure(reason: "async")) {
            try await Concurrent.thread { () throws -> Int in throw TestFailure(reason: "async") }.value
        }
    }

    @Test func returnedErrorAwaitedIsAValue() async throws {
        #expect(try await Concurrent.thread { TestFailure(reason: "value") }.value == TestFailure(reason: "value"))
    }

    @Test func poolRunReusesItsWorker() async throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let first = try await pool.run { ThreadPool.currentWorkerID }
        let second = try await pool.run { ThreadPool.currentWorkerID }
        #expect(first != nil && first == second)
        pool.stop()
    }

    @Test func poolRunErrorAndCallback() async throws {
        let pool = try ThreadPool(maxWorkers: 1)
        await #expect(throws: TestFailure(reason: "run")) { try await pool.run { () throws -> Int in throw TestFailure(reason: "run") } }
        let seen = Box<Int?>(nil)
        let done = EventCounter()
        try pool.schedule { 2 }.whenComplete {
            seen.value = try? $0.get()
            done.record()
        }
        #expect(done.wait())
        #expect(seen.value == 2)
        pool.stop()
    }
}
