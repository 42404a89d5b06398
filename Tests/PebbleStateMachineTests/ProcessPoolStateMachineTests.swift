// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import Pebble

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process pool's lifecycle decisions, driven event by event without a process, a lock or a
/// timer (the dispatch guarantees are in ``DispatchGuaranteeTests``).
@Suite struct ProcessPoolStateMachineTests {
    @Test func theFirstTaskStartsMaxWorkersWorkersAndReadyWorkersTakeFromTheFeed() throws {
        var pool = PoolHarness(maxWorkers: 2)
        let tasks = (0..<3).map { FakeTask($0) }
        #expect(try pool.apply { try $0.enqueue(tasks) } == [.spawn(after: nil), .spawn(after: nil)])
        #expect(pool.machine.workerSpawned(10) == 0)
        #expect(pool.machine.workerSpawned(11) == 1)
        // Offered once a worker is starting: the first ready worker takes the oldest.
        #expect(pool.apply { $0.workerReady(10) }.filter { !$0.isBookkeeping } == [.offer(task: 0), .offer(task: 1), .offer(task: 2)])
        #expect(pool.take(10) == 0)
        _ = pool.apply { $0.workerReady(11) }
        #expect(pool.take(11) == 1)
        #expect(pool.finish(10).task == 0)
        #expect(pool.take(10) == 2)
        #expect(pool.machine.waiting == 0)
    }

    @Test func aTaskCancelledWhileQueuedIsNeverOffered() throws {
        var pool = try PoolHarness.ready([10], feedLimit: 1)
        let first = FakeTask(0), cancelled = FakeTask(1), third = FakeTask(2)
        #expect(try pool.apply { try $0.enqueue([first, cancelled, third]) }.filter { !$0.isBookkeeping } == [.offer(task: 0)])
        cancelled.cancel()
        #expect(pool.take(10) == 0)
        #expect(pool.finish(10).decisions.filter { !$0.isBookkeeping } == [.offer(task: 2)])
        #expect(cancelled.phase == .done("CancellationError"))
    }

    @Test func aDeathWhileRunningFailsTheTakenTaskAndReplacesTheWorker() throws {
        var pool = try PoolHarness.ready([10])
        _ = try pool.apply { try $0.enqueue([FakeTask(0)]) }
        pool.take(10)
        let (reason, decisions) = pool.exit(10)
        #expect(reason == .crashed)
        #expect(decisions.filter { !$0.isBookkeeping } == [.fail([0], "ProcessExpired"), .spawn(after: nil)])
        #expect(pool.machine.workers.isEmpty && pool.machine.workersExited == 1)
    }

    @Test func workersThatNeverBecomeReadyBreakThePoolAfterThreeInARow() throws {
        var pool = PoolHarness(maxWorkers: 1)
        _ = try pool.apply { try $0.enqueue([FakeTask(0)]) }
        for attempt in 1...3 {
            let pid = pid_t(100 + attempt)
            #expect(pool.machine.workerSpawned(pid) != nil)
            let decisions = pool.exit(pid).decisions.filter { !$0.isBookkeeping }
            if attempt < 3 {
                #expect(decisions == [.spawn(after: .milliseconds(1 << (attempt - 1)))])
            } else {
                #expect(decisions == [.fail([0], "PebbleError")])
            }
        }
        guard case .broken(let error) = pool.machine.lifecycle else {
            Issue.record("not broken")
            return
        }
        #expect(error.code == .spawnFailed)
        #expect(refusal { try pool.machine.checkAcceptsWork() } == .spawnFailed)
    }

    @Test func afterAWorkerWasReadyDeathsBeforeReadyBackOffFromOneMillisecond() throws {
        var pool = try PoolHarness.ready([10])
        pool.exit(10)
        var backoffs: [Duration?] = []
        for attempt in 1...5 {
            let pid = pid_t(20 + attempt)
            #expect(pool.machine.workerSpawned(pid) != nil)
            backoffs += pool.exit(pid).decisions.compactMap { if case .spawn(let after) = $0 { after } else { nil } }
        }
        #expect(backoffs == [.milliseconds(1), .milliseconds(2), .milliseconds(4), .milliseconds(8), .milliseconds(16)])
        #expect(pool.machine.workerSpawned(30) != nil)
        _ = pool.apply { $0.workerReady(30) }
        #expect(pool.machine.spawnBackoff == nil && pool.machine.failedStarts == 0)
    }

    @Test func anInitializerThatStartsCrashingBreaksThePoolInsteadOfRespawningForever() throws {
        var pool = try PoolHarness.ready([10], maxTasks: 1, initializer: true)
        let tasks = (0..<3).map { FakeTask($0) }
        _ = try pool.apply { try $0.enqueue(tasks) }
        pool.take(10)
        pool.finish(10) // maxTasks 1: the worker retires
        pool.exit(10)
        var failed: [Decision] = []
        for attempt in 1...ProcessPoolStateMachine.initializerDeathLimit {
            let pid = pid_t(20 + attempt)
            #expect(pool.machine.workerSpawned(pid) != nil)
            failed += pool.exit(pid).decisions.filter { if case .fail = $0 { true } else { false } }
        }
        #expect(failed == [.fail([1, 2], "PebbleError")])
        guard case .broken(let error) = pool.machine.lifecycle else {
            Issue.record("not broken")
            return
        }
        #expect(error.code == .initializerFailed)
    }

    @Test func closeRetiresIdleWorkersOnceNothingWaits() throws {
        var pool = try PoolHarness.ready([10, 11])
        _ = try pool.apply { try $0.enqueue([FakeTask(0)]) }
        pool.take(10)
        let decisions = pool.apply { $0.close() }
        #expect(decisions.contains(.retire(11)) && !decisions.contains(.retire(10)))
        #expect(pool.finish(10).decisions.filter { !$0.isBookkeeping } == [.retire(10)])
        #expect(pool.exit(10).reason == .retired)
        #expect(refusal { _ = try pool.machine.enqueue([FakeTask(1)]) } == .poolNotRunning)
    }

    @Test func stopKillsEveryWorkerAndFailsWhatNoWorkerTookWithCancellation() throws {
        var pool = try PoolHarness.ready([10], feedLimit: 2)
        _ = try pool.apply { try $0.enqueue((0..<4).map { FakeTask($0) }) }
        pool.take(10)
        #expect(
            pool.apply { $0.stop() }.filter { !$0.isBookkeeping } == [
                .fail([1], "CancellationError"), .kill(10), .fail([2, 3], "CancellationError")
            ])
        let (reason, decisions) = pool.exit(10)
        #expect(reason == .stopped)
        #expect(decisions.filter { !$0.isBookkeeping } == [.fail([0], "CancellationError")])
        #expect(pool.machine.stop().isEmpty)
    }

    @Test func aWorkerSpawnedAfterStopIsKilledAtOnce() throws {
        var pool = PoolHarness(maxWorkers: 1)
        _ = try pool.apply { try $0.enqueue([FakeTask(0)]) }
        _ = pool.apply { $0.stop() }
        #expect(pool.machine.workerSpawned(10) == nil)
    }

    @Test func maxTasksRetiresAWorkerAfterItsLastTaskAndReplacesIt() throws {
        var pool = try PoolHarness.ready([10], maxTasks: 2)
        _ = try pool.apply { try $0.enqueue((0..<3).map { FakeTask($0) }) }
        pool.take(10)
        #expect(pool.finish(10).decisions.filter { !$0.isBookkeeping }.isEmpty)
        pool.take(10)
        #expect(pool.finish(10).decisions.filter { !$0.isBookkeeping } == [.retire(10), .spawn(after: nil)])
        #expect(pool.machine.workerSpawned(11) != nil)
        _ = pool.apply { $0.workerReady(11) }
        #expect(pool.take(11) == 2)
        #expect(pool.exit(10).reason == .retired)
    }

    @Test func aWorkerOverItsMemoryLimitRetiresAfterItsReply() throws {
        var pool = try PoolHarness.ready([10])
        _ = try pool.apply { try $0.enqueue([FakeTask(0), FakeTask(1)]) }
        pool.take(10)
        pool.machine.workerWillRetire(10, reason: .memoryLimit)
        #expect(pool.finish(10).decisions.filter { !$0.isBookkeeping } == [.spawn(after: nil)])
        let (reason, decisions) = pool.exit(10)
        #expect(reason == .memoryLimit)
        #expect(!decisions.contains { if case .offer = $0 { true } else { false } }, "a retiring worker takes nothing: no re-offer")
        #expect(pool.takeable == [1])
    }

    @Test func aFullQueueRefusesWorkAndCancelledTasksFreeTheirRoom() throws {
        var pool = try PoolHarness.ready([10], maxPending: 2)
        let tasks = (0..<3).map { FakeTask($0) }
        _ = try pool.apply { try $0.enqueue([tasks[0]]) }
        pool.take(10) // taken: it no longer counts against maxPending
        _ = try pool.apply { try $0.enqueue(Array(tasks[1...])) }
        #expect(pool.machine.room == 0)
        #expect(refusal { _ = try pool.machine.enqueue([FakeTask(3)]) } == .queueFull)
        #expect(pool.machine.waiting == 2 && pool.machine.running == 1)
    }

    @Test func aMapThatDoesNotFitIsRefusedWhole() throws {
        var pool = try PoolHarness.ready([10], maxPending: 2)
        #expect(refusal { _ = try pool.machine.enqueue((0..<4).map { FakeTask($0) }) } == .queueFull)
        #expect(pool.machine.pending.isEmpty && pool.machine.offered.isEmpty)
    }

    @Test func aScribbledBoardWordFailsItsTaskInsteadOfCrashingThePool() throws {
        var pool = try PoolHarness.ready([10])
        _ = try pool.apply { try $0.enqueue([FakeTask(0), FakeTask(1)]) }
        let victim = pool.feed[0]
        pool.board.scribble(slot: victim.slot, sequence: victim.sequence, .taken(worker: 999))
        #expect(pool.take(10) == 1)
        #expect(pool.finish(10).decisions.contains(.fail([0], "PebbleError")))
    }

    @Test func anOutcomeWithNoTaskTakenIsAProtocolViolation() throws {
        var pool = try PoolHarness.ready([10])
        let (tasks, actions) = pool.machine.tasksFinished(on: 10, count: 1)
        #expect(tasks[0] == nil)
        #expect(actions.essential == [.kill(10), .spawn(after: nil)])
    }
}
