// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing
import _PebbleShim

@testable import Pebble
@testable import PebbleTestSupport

/// Pebble's test_process_pool.py, ported, plus the cases where Pebble fails its users.
@Suite(.timeLimit(.minutes(3)))
struct ProcessPoolTests {
    /// Every process test runs under both start methods.
    static let startMethods: [ProcessPool.StartMethod] = [.zygote, .spawn]

    // MARK: schedule, results, errors

    @Test(arguments: startMethods)
    func singleFuture(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        #expect(try pool.schedule(AddOne(x: 1)).result() == 2)
        pool.close()
        try pool.join()
    }

    @Test(arguments: startMethods)
    func multipleFutures(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        let sum = try (0..<5).map { _ in try pool.schedule(AddOne(x: 0)) }.reduce(0) { try $0 + $1.result() }
        pool.close()
        try pool.join()
        #expect(sum == 5)
        if startMethod == .zygote {
            // withProcessPool (default start method) closes and joins the same way.
            #expect(
                try withProcessPool(maxWorkers: 2) { pool in
                    try (0..<5).map { _ in try pool.schedule(AddOne(x: 0)) }.reduce(0) { try $0 + $1.result() }
                } == 5)
        }
    }

    /// The blocking `withProcessPool` keeps its async twin's rule: a body that throws stops the
    /// pool (a running job is stopped, its future fails) instead of waiting for its work.
    @Test func blockingWithProcessPoolStopsThePoolWhenTheBodyThrows() throws {
        let started = ContinuousClock.now
        let job = Box<Future<Int32>?>(nil)
        #expect(throws: TestFailure.self) {
            try withProcessPool(maxWorkers: 1) { pool in
                job.value = try pool.schedule(SleepJob(seconds: 60))
                throw TestFailure(reason: "the body failed")
            }
        }
        #expect(throws: CancellationError.self) { try job.value?.result(timeout: .seconds(1)) }
        #expect(ContinuousClock.now - started < .seconds(30), "the pool waited for the job")
    }

    @Test(arguments: startMethods)
    func callbackAddedAfterThePoolEndedStillReceivesTheValue(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let future = try pool.schedule(AddOne(x: 1))
        pool.close()
        try pool.join()
        let value = Box<Int?>(nil)
        let done = EventCounter()
        future.whenComplete {
            value.value = try? $0.get()
            done.record()
        }
        #expect(done.wait())
        #expect(value.value == 2)
    }

    @Test(arguments: startMethods)
    func codableErrorIsRebuiltAsItself(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let future = try pool.schedule(ThrowCodable())
        #expect(try future.error() as? CodableFailure == CodableFailure(code: 7, detail: "BOOM!"))
        let seen = Box<CodableFailure?>(nil)
        let done = EventCounter()
        future.whenComplete {
            seen.value = $0.failure as? CodableFailure
            done.record()
        }
        #expect(done.wait())
        #expect(seen.value?.code == 7)
        // exception_isolated: the same worker serves the next task.
        #expect(try pool.schedule(AddOne(x: 1)).result() == 2)
        pool.stop()
    }

    @Test(arguments: startMethods)
    func otherErrorsBecomeRemoteErrors(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let pid = try pool.schedule(WorkerPid()).result()
        let error = try #require(try pool.schedule(ThrowOpaque()).error() as? RemoteError)
        #expect(error.typeName.hasSuffix("OpaqueFailure"))
        #expect(error.message == "opaque failure")
        #expect(error.pid == pid)
        pool.stop()
    }

    @Test(arguments: startMethods)
    func returnedErrorIsAValue(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        #expect(try pool.schedule(ReturnError()).result() == CodableFailure(code: 1, detail: "returned"))
        pool.stop()
    }

    @Test(arguments: startMethods)
    func unencodableJobFailsOnlyItsFuture(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        #expect(pebbleCode(try pool.schedule(Unencodable()).error()) == .encodingFailed)
        #expect(pebbleCode(try pool.schedule(ReturnUnencodable()).error()) == .encodingFailed)
        #expect(try pool.schedule(AddOne(x: 1)).result() == 2)
        pool.stop()
    }

    @Test(arguments: startMethods)
    func privateJobTypesAreRejectedWithAFix(_ startMethod: ProcessPool.StartMethod) throws {
        struct LocalJob: ProcessJob { func run() async throws -> Int { 1 } }
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        for error in [errorOf { try pool.schedule(PrivateJob()) }, errorOf { try pool.schedule(LocalJob()) }] {
            let pebble = try #require(error as? PebbleError)
            #expect(pebble.code == .jobNotResolvable)
            #expect(pebble.message.contains("internal"))
        }
        #expect(try pool.schedule(AddOne(x: 1)).result() == 2)
        pool.stop()
    }

    @Test(arguments: startMethods)
    func jobsCanStartChildProcessesAndNestedPools(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        #expect(try pool.schedule(RunChildProcess()).result(timeout: .seconds(30)) == 3)
        #expect(try pool.schedule(NestedPoolJob()).result(timeout: .seconds(30)) == 42)
        pool.stop()
    }

    @Test(arguments: startMethods)
    func jobsMayUseTheMainActor(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        #expect(try pool.schedule(MainActorJob()).result(timeout: .seconds(30)))
        pool.stop()
    }

    @Test(arguments: startMethods)
    func aHundredMegabytePayloadRoundTrips(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let text = String(repeating: "a", count: 100_000_000)
        let echoed = try pool.schedule(Echo(text: text)).result(timeout: .seconds(90))
        #expect(echoed.utf8.count == text.utf8.count && echoed == text)
        pool.stop()
    }

    @Test(arguments: startMethods)
    func payloadOverTheMessageLimitFailsThatFutureOnly(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, maxMessageSize: 4096, startMethod: startMethod)
        #expect(pebbleCode(try pool.schedule(Echo(text: String(repeating: "x", count: 10_000))).error()) == .messageTooLarge)
        #expect(try pool.schedule(Echo(text: "small")).result() == "small")
        pool.stop()
    }

    // MARK: timeout

    @Test(arguments: startMethods)
    func timeoutStopsTheJob(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let first = try pool.schedule(WorkerPid()).result()
        let started = ContinuousClock.now
        let future = try pool.schedule(SleepJob(seconds: 10), timeout: .milliseconds(200))
        let error = try future.error()
        #expect((error as? TimeoutError)?.timeout == .milliseconds(200))
        #expect(ContinuousClock.now - started < .seconds(3))
        let seen = Box<(any Error)?>(nil)
        let done = EventCounter()
        future.whenComplete {
            seen.value = $0.failure
            done.record()
        }
        #expect(done.wait())
        #expect(seen.value is TimeoutError)
        // stop_timeout: the worker was replaced.
        #expect(try pool.schedule(WorkerPid()).result() != first)
        pool.stop()
    }

    @Test(arguments: startMethods)
    func timeoutCountsFromWhenTheWorkerStarts(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let blocker = try pool.schedule(SleepJob(seconds: 0.5))
        let queued = try pool.schedule(AddOne(x: 1), timeout: .milliseconds(300))
        _ = try blocker.result()
        #expect(try queued.result() == 2, "time spent queued does not count")
        pool.stop()
    }

    @Test(arguments: startMethods)
    func jobIgnoringSIGTERMIsKilledAfterTheGracePeriod(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, terminationGracePeriod: .milliseconds(300), startMethod: startMethod)
        let started = ContinuousClock.now
        let error = try pool.schedule(SleepJob(seconds: 10, ignoreSIGTERM: true), timeout: .milliseconds(200)).error()
        #expect(error is TimeoutError)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(try pool.schedule(AddOne(x: 1)).result() == 2)
        pool.stop()
    }

    /// The grace period's SIGTERM reaches the worker's whole process group (the job's own children)
    /// with either start method, as the StartMethod docs say.
    @Test(arguments: startMethods)
    func gracePeriodSIGTERMReachesWhatTheStartMethodDocuments(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, terminationGracePeriod: .seconds(1), startMethod: startMethod)
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("pebble-sigterm-\(UUID())").path
        defer {
            unlink(base + ".pid")
            unlink(base + ".term")
        }
        let future = try pool.schedule(SIGTERMProbe(pidFile: base + ".pid", marker: base + ".term"), timeout: .milliseconds(200))
        #expect(try future.error(timeout: .seconds(30)) is TimeoutError)
        let child = try #require(pid_t(try String(contentsOfFile: base + ".pid", encoding: .utf8)))
        #expect(waitForExit(child, seconds: 10), "the job's child died with its worker")
        let sawSIGTERM = FileManager.default.fileExists(atPath: base + ".term")
        #expect(sawSIGTERM, "SIGTERM did not reach the job's child")
        pool.stop()
    }

    @Test(arguments: startMethods, [false, true])
    func timedOutJobsChildrenAreKilledToo(_ startMethod: ProcessPool.StartMethod, withFoundationProcess: Bool) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("pebble-grandchild-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        let job = SpawnGrandchildAndHang(pidFile: pidFile, withFoundationProcess: withFoundationProcess)
        let future = try pool.schedule(job, timeout: .seconds(1))
        #expect(try future.error() is TimeoutError)
        let grandchild = try #require(pid_t(try String(contentsOfFile: pidFile, encoding: .utf8)))
        if startMethod == .spawn && withFoundationProcess {
            // Documented: a child in a process group of its own escapes a `.spawn` worker's kill
            // (only the zygote, a child subreaper, catches it). The caller kills it.
            #expect(!waitForExit(grandchild, seconds: 1), "documented: it escapes with .spawn")
            kill(grandchild, SIGKILL)
            #expect(waitForExit(grandchild, seconds: 5))
        } else {
            #expect(waitForExit(grandchild, seconds: 5), "the job's own child died with its worker")
        }
        pool.stop()
    }

    // MARK: cancel

    @Test(arguments: startMethods)
    func cancelRunningJobStopsItsWorker(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let first = try pool.schedule(WorkerPid()).result()
        let fifo = try ReadyFifo()
        let future = try pool.schedule(SignalThenSleep(readyFifo: fifo.path, seconds: 10))
        #expect(fifo.waitForReady(1, seconds: 60), "the worker took the job")
        let seen = Box<(any Error)?>(nil)
        let done = EventCounter()
        future.whenComplete {
            seen.value = $0.failure
            done.record()
        }
        #expect(future.isRunning)
        #expect(future.cancel())
        #expect(future.isCancelled)
        #expect(try future.error() is CancellationError)
        #expect(done.wait())
        #expect(seen.value is CancellationError)
        #expect(try pool.schedule(WorkerPid()).result() != first, "the worker was replaced")
        #expect(!future.cancel())
        pool.stop()
    }

    @Test(arguments: startMethods)
    func cancelledPendingJobNeverRuns(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("pebble-cancelled-\(UUID())").path
        let blocker = try pool.schedule(SleepJob(seconds: 0.3))
        let pending = try pool.schedule(TouchFile(path: marker))
        #expect(pending.cancel())
        _ = try blocker.result()
        #expect(try pool.schedule(AddOne(x: 1)).result() == 2)
        #expect(!FileManager.default.fileExists(atPath: marker), "the cancelled job left no trace")
        pool.stop()
    }

    @Test(arguments: startMethods)
    func cancellingTheAwaitingTaskStopsTheJob(_ startMethod: ProcessPool.StartMethod) async throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let first = try await pool.run(WorkerPid())
        let fifo = try ReadyFifo()
        let job = SignalThenSleep(readyFifo: fifo.path, seconds: 10)
        let waiter = Task { try await pool.run(job) }
        // Once the worker took the job, cancel the awaiting task. (The wait blocks a thread of
        // its own, not one of the cooperative pool's, which the waiter may need.)
        let started = await Task.detached { fifo.waitForReady(1, seconds: 60) }.value
        #expect(started, "the worker took the job")
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(try await pool.run(WorkerPid()) != first)
        await pool.stop()
    }

    // MARK: workers, maxTasks, initializer

    @Test(arguments: startMethods)
    func tasksSpreadOverWorkers(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        let pids = try (0..<6).map { _ in try pool.schedule(SleepJob(seconds: 0.4)) }.map { try $0.result() }
        #expect(Set(pids).count == 2)
        pool.stop()
    }

    @Test(arguments: startMethods)
    func maxTasksRecyclesWorkers(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, maxTasks: 2, startMethod: startMethod)
        let pids = try (0..<4).map { _ in try pool.schedule(WorkerPid()) }.map { try $0.result() }
        #expect(Set(pids).count == 2)
        #expect(pids[0] == pids[1] && pids[2] == pids[3])
        pool.close()
        try pool.join(timeout: .seconds(30))
    }

    @Test(arguments: startMethods)
    func initializerRunsInEachWorker(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, maxTasks: 1, initializer: SetWorkerValue(value: 1), startMethod: startMethod)
        #expect(try pool.schedule(ReadWorkerValue()).result() == 1)
        #expect(try pool.schedule(ReadWorkerValue()).result() == 1, "the replacement worker ran it too")
        pool.stop()
    }

    @Test(arguments: startMethods, [true, false])
    func brokenInitializerFailsPendingFutures(_ startMethod: ProcessPool.StartMethod, crash: Bool) throws {
        let initializer: any ProcessJob = crash ? CrashingInitializer() : FailingInitializer()
        let pool = try ProcessPool(maxWorkers: 2, initializer: initializer, startMethod: startMethod)
        // A crashing initializer can break the pool before the last schedule: that schedule then
        // throws the same error instead of returning a future that fails with it.
        let scheduled = (0..<4).map { _ in Result { try pool.schedule(AddOne(x: 1)) } }
        for outcome in scheduled {
            switch outcome {
            case .success(let future): #expect(pebbleCode(try future.error(timeout: .seconds(30))) == .initializerFailed)
            case .failure(let error): #expect(pebbleCode(error) == .initializerFailed)
            }
        }
        #expect(!pool.isActive)
        #expect(pebbleCode(errorOf { try pool.schedule(AddOne(x: 1)) }) == .initializerFailed)
        pool.stop()
    }

    @Test(arguments: startMethods)
    func expiredWorkerReportsPidAndStatus(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let pid = try pool.schedule(WorkerPid()).result()
        let expired = try #require(try pool.schedule(ExitJob(status: 1)).error() as? ProcessExpired)
        #expect(expired.pid == pid && expired.exitCode == 1 && expired.signal == nil)
        let killed = try #require(try pool.schedule(KillSelfJob()).error() as? ProcessExpired)
        #expect(killed.signal == SIGKILL && killed.exitCode == nil)
        #expect(try pool.schedule(AddOne(x: 1)).result() == 2)
        pool.stop()
    }

    @Test(arguments: startMethods)
    func workerKilledWhileIdleIsReplacedSilently(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let pid = try pool.schedule(WorkerPid()).result()
        kill(pid, SIGKILL)
        let next = try pool.schedule(WorkerPid()).result(timeout: .seconds(30))
        #expect(next != pid)
        #expect(pool.isActive)
        pool.stop()
    }

    // MARK: close, stop, join, isActive

    @Test(arguments: startMethods)
    func activeStates(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        _ = try pool.schedule(AddOne(x: 1))
        #expect(pool.isActive)
        pool.close()
        try pool.join()
        #expect(!pool.isActive)
        let stopped = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        stopped.stop()
        try stopped.join()
        #expect(!stopped.isActive)
    }

    @Test(arguments: startMethods)
    func closeRunsEveryQueuedTask(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        let futures = try (0..<10).map { try pool.schedule(AddOne(x: $0)) }
        pool.close()
        try pool.join(timeout: .seconds(30))
        #expect(futures.allSatisfy { $0.isDone })
        #expect(try futures.map { try $0.result() } == Array(1...10))
    }

    @Test(arguments: startMethods)
    func stopCompletesEveryFutureAndKillsEveryWorker(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        let pids = try (0..<2).map { _ in try pool.schedule(WorkerPid()) }.map { try $0.result() }
        let futures = try (0..<10).map { _ in try pool.schedule(SleepJob(seconds: 10)) }
        pool.stop()
        #expect(futures.allSatisfy { $0.isDone }, "stop() returns with every future complete")
        #expect(futures.allSatisfy { (try? $0.error()) is CancellationError })
        #expect(!pids.contains(where: processIsAlive), "stop() returns with every worker dead")
        try pool.join()
        #expect(!pool.isActive)
    }

    @Test(arguments: startMethods)
    func stopFromACallback(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let stopped = EventCounter()
        try pool.schedule(AddOne(x: 1)).whenComplete { _ in
            pool.stop()
            stopped.record()
        }
        #expect(stopped.wait(seconds: 30))
        #expect(pebbleCode(errorOf { try pool.schedule(AddOne(x: 1)) }) == .poolNotRunning)
        #expect(!pool.isActive)
    }

    @Test(arguments: startMethods)
    func stopWithLargeDataInFlight(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let future = try pool.schedule(Echo(text: String(repeating: "b", count: 50_000_000)))
        pool.stop()
        #expect(future.isDone)
        #expect(!pool.isActive)
    }

    @Test(arguments: startMethods)
    func joinRules(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        #expect(pebbleCode(errorOf { try pool.join() }) == .poolStillRunning)
        _ = try (0..<2).map { _ in try pool.schedule(SleepJob(seconds: 10)) }
        pool.close()
        #expect(pebbleCode(errorOf { try pool.join(timeout: .milliseconds(400)) }) == .waitTimedOut)
        pool.stop()
        try pool.join(timeout: .seconds(10))
        #expect(pebbleCode(errorOf { try pool.schedule(AddOne(x: 1)) }) == .poolNotRunning)
    }

    @Test(arguments: startMethods)
    func invalidArgumentsNameTheArgument(_ startMethod: ProcessPool.StartMethod) throws {
        func message(_ body: () throws -> Void) -> String? {
            guard let error = errorOf(body) as? PebbleError, error.code == .invalidArgument else { return nil }
            return error.message
        }
        #expect(message { _ = try ProcessPool(maxWorkers: 0, startMethod: startMethod) }?.contains("maxWorkers") == true)
        #expect(message { _ = try ProcessPool(maxTasks: -1) }?.contains("maxTasks") == true)
        #expect(message { _ = try ProcessPool(maxMessageSize: 10) }?.contains("maxMessageSize") == true)
        #expect(message { _ = try ProcessPool(terminationGracePeriod: .seconds(-1)) }?.contains("terminationGracePeriod") == true)
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        #expect(message { _ = try pool.schedule(AddOne(x: 1), timeout: .seconds(-1)) }?.contains("timeout") == true)
        #expect(message { _ = try pool.map(AddOneFunction(), [1], chunkSize: 0) }?.contains("chunkSize") == true)
        #expect(message { _ = try pool.map(AddOneFunction(), [1], timeout: .seconds(-2)) }?.contains("timeout") == true)
        pool.stop()
    }

    // MARK: map

    @Test(arguments: startMethods)
    func mapKeepsOrder(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        #expect(try pool.map(AddOneFunction(), [1, 2, 3]).result().values() == [2, 3, 4])
        #expect(try pool.map(AddOneFunction(), [0]).result().values() == [1])
        #expect(try pool.map(AddOneFunction(), 0..<100, chunkSize: 7).result().values() == Array(1...100))
        let empty = try pool.map(AddOneFunction(), [Int]())
        #expect(empty.isDone)
        #expect(try empty.result(timeout: .zero).values() == [])
        pool.stop()
    }

    @Test(arguments: startMethods)
    func mapErrorFailsOnlyThatInput(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let outcomes = Array(try pool.map(AddOneFunction(), [1, -5, 3], chunkSize: 3).result())
        #expect(try outcomes[0].get() == 2)
        #expect((outcomes[1].failure as? CodableFailure)?.code == -5)
        #expect(try outcomes[2].get() == 4)
        pool.stop()
    }

    @Test(arguments: startMethods)
    func mapChunkTimeoutGivesOneErrorPerInput(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        let outcomes = Array(try pool.map(SleepFunction(), [0, 0, 0, 10, 0, 0], chunkSize: 3, timeout: .milliseconds(500)).result())
        #expect(outcomes.count == 6)
        #expect(try outcomes[0..<3].map { try $0.get() } == [0, 0, 0])
        #expect(outcomes[3...].allSatisfy { $0.failure is TimeoutError })
        pool.stop()
    }

    @Test(arguments: startMethods)
    func mapTimeoutIsPerChunk(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let values = try pool.map(SleepFunction(), Array(repeating: 0.05, count: 20), chunkSize: 5, timeout: .seconds(5)).result().values()
        #expect(values.count == 20)
        pool.stop()
    }

    @Test(arguments: startMethods)
    func mapChunkWhoseWorkerDiesGivesProcessExpiredPerInput(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let outcomes = Array(try pool.map(ExitOnInput(), [1, 2, 3, 4], chunkSize: 2).result())
        #expect(try outcomes[0..<2].map { try $0.get() } == [1, 2])
        #expect(outcomes[2...].allSatisfy { ($0.failure as? ProcessExpired)?.exitCode == 4 })
        pool.stop()
    }

    @Test(arguments: startMethods)
    func mapCancel(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let future = try pool.map(SleepFunction(), [0, 10, 10, 10, 10])
        var iterator = try future.result().makeIterator()
        #expect(try iterator.next()?.get() == 0)
        #expect(future.cancel())
        let rest = (0..<4).compactMap { _ in iterator.next() }
        #expect(rest.count == 4 && rest.allSatisfy { $0.failure is CancellationError })
        pool.stop()
    }

    @Test(arguments: startMethods)
    func mapChunkThatCannotBeEncodedFailsOnlyItsInputs(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let inputs = [1, 2, -3, 4, 5, 6].map(PickyInput.init)
        let outcomes = Array(try pool.map(PickyFunction(), inputs, chunkSize: 2).result())
        #expect(outcomes.count == 6)
        #expect(try outcomes[0..<2].map { try $0.get() } == [1, 2])
        #expect(outcomes[2..<4].allSatisfy { ($0.failure as? PebbleError)?.code == .encodingFailed })
        #expect(try outcomes[4...].map { try $0.get() } == [5, 6])
        // The worker that was sent a stand-in for the failed chunk still serves the pool.
        #expect(try pool.map(PickyFunction(), [PickyInput(value: 7)]).result().values() == [7])
        pool.stop()
    }

    @Test(arguments: startMethods)
    func mapOutcomesStream(_ startMethod: ProcessPool.StartMethod) async throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        var values: [Int] = []
        for await outcome in try pool.map(AddOneFunction(), 0..<20, chunkSize: 3).outcomes {
            values.append(try outcome.get())
        }
        #expect(values == Array(1...20))
        await pool.stop()
    }
}

private struct PrivateJob: ProcessJob {
    func run() async throws -> Int { 1 }
}

struct TouchFile: ProcessJob {
    let path: String
    func run() async throws -> Bool { FileManager.default.createFile(atPath: path, contents: Data()) }
}

/// An input that refuses to be encoded when negative.
struct PickyInput: Codable, Sendable {
    let value: Int
    init(value: Int) { self.value = value }
    init(from decoder: any Decoder) throws { value = try decoder.singleValueContainer().decode(Int.self) }
    func encode(to encoder: any Encoder) throws {
        if value < 0 { throw CodableFailure(code: value, detail: "negative") }
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

struct PickyFunction: ProcessFunction {
    func callAsFunction(_ input: PickyInput) async throws -> Int { input.value }
}

/// Exits with status 4 on input 4.
struct ExitOnInput: ProcessFunction {
    func callAsFunction(_ input: Int) async throws -> Int {
        if input == 4 { exit(4) }
        return input
    }
}

/// Starts `/bin/sh` in the worker's process group, which writes `marker` if SIGTERM reaches it
/// and writes its pid to `pidFile` once its trap is set; then ignores SIGTERM itself and hangs.
struct SIGTERMProbe: ProcessJob {
    let pidFile: String
    let marker: String
    func run() async throws -> Int {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return -1 }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        let script = "trap 'echo term > \"$0\"; exit 0' TERM; echo ready; sleep 30 & wait"
        var pid: pid_t = 0
        let spawned = withCArguments(["/bin/sh", "-c", script, marker]) { posix_spawn(&pid, "/bin/sh", &actions, nil, $0, nil) }
        close(fds[1])
        guard spawned == 0 else { return -1 }
        var byte: UInt8 = 0
        _ = read(fds[0], &byte, 1) // the trap is set
        close(fds[0])
        try "\(pid)".write(toFile: pidFile, atomically: true, encoding: .utf8)
        signal(SIGTERM, SIG_IGN)
        usleep(30_000_000)
        return 0
    }
}
