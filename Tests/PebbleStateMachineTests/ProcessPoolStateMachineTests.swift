// SPDX-License-Identifier: Apache-2.0
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
@testable import Pebble

/// The process pool's decisions, driven event by event without a process, a lock or a timer.
@Suite struct ProcessPoolStateMachineTests {
    typealias Machine = ProcessPoolStateMachine

    /// A machine whose workers hold one task at a time, unless `window` says otherwise.
    static func machine(maxWorkers: Int = 1, maxTasks: Int = 0, initializer: Bool = false, maxPending: Int? = nil,
                        window: Int = 1) -> Machine {
        Machine(settings: .init(maxWorkers: maxWorkers, maxTasks: maxTasks, hasInitializer: initializer, maxPending: maxPending,
                                windowSize: window))
    }

    /// A machine with `pids` spawned and ready.
    static func ready(_ pids: [pid_t], maxTasks: Int = 0, initializer: Bool = false, maxPending: Int? = nil,
                      window: Int = 1) throws -> Machine {
        var machine = machine(maxWorkers: pids.count, maxTasks: maxTasks, initializer: initializer, maxPending: maxPending)
        _ = try machine.enqueue([])
        _ = machine.close()   // nothing, just to see that close on an empty running pool is harmless
        machine = Self.machine(maxWorkers: pids.count, maxTasks: maxTasks, initializer: initializer, maxPending: maxPending,
                               window: window)
        #expect(try machine.enqueue([]).essential == Array(repeating: .spawn(after: nil), count: pids.count))
        for pid in pids {
            #expect(machine.workerSpawned(pid) == true)
            #expect(machine.workerReady(pid).count == 0)
        }
        return machine
    }

    @Test func theFirstTaskStartsMaxWorkersWorkersAndEachReadyWorkerTakesTheNextTask() throws {
        var machine = Self.machine(maxWorkers: 2)
        let tasks = (0..<3).map { FakeTask($0) }
        #expect(try machine.enqueue(tasks).decisions == [.spawn(after: nil), .spawn(after: nil)])
        #expect(machine.workerSpawned(10) == true)
        #expect(machine.workerSpawned(11) == true)
        #expect(machine.workerReady(10).decisions == [.arm(10, task: 0), .send(10, task: 0)])
        #expect(machine.workerReady(11).decisions == [.arm(11, task: 1), .send(11, task: 1)])
        let (finished, actions) = machine.taskFinished(on: 10)
        #expect((finished as? FakeTask)?.id == 0)
        #expect(actions.decisions == [.disarm(10), .arm(10, task: 2), .send(10, task: 2)])
        #expect(tasks[2].phase == .running(10))
        #expect(machine.pending.isEmpty)
    }

    @Test func aTaskCancelledWhilePendingIsNeverSent() throws {
        var machine = try Self.ready([10])
        let first = FakeTask(0), cancelled = FakeTask(1), third = FakeTask(2)
        #expect(try machine.enqueue([first, cancelled, third]).essential == [.send(10, task: 0)])
        cancelled.cancel()
        #expect(machine.taskFinished(on: 10).actions.essential == [.send(10, task: 2)])
        #expect(cancelled.phase == .done("CancellationError"))
    }

    @Test func aDeathWhileBusyFailsTheStartedTaskAndReplacesTheWorker() throws {
        var machine = try Self.ready([10])
        let task = FakeTask(0)
        _ = try machine.enqueue([task])
        let (reason, actions) = machine.workerExited(10, startedJobs: 1, death: death(10))
        #expect(reason == .crashed)
        #expect(actions.essential == [.fail([0], "ProcessExpired"), .spawn(after: nil)])
        #expect(machine.workers.isEmpty && machine.workersExited == 1)
    }

    @Test func aTaskWhoseWorkerDiedBeforeStartingItRunsFirstOnTheNextWorker() throws {
        var machine = try Self.ready([10])
        let sent = FakeTask(0), next = FakeTask(1)
        _ = try machine.enqueue([sent, next])
        // The worker's start counter is still 0: it never began the task it was sent.
        let (reason, actions) = machine.workerExited(10, startedJobs: 0, death: death(10))
        #expect(reason == .diedIdle)
        #expect(actions.essential == [.spawn(after: nil)])
        #expect(sent.phase == .pending)
        #expect(machine.workerSpawned(11) == true)
        #expect(machine.workerReady(11).essential == [.send(11, task: 0)])
    }

    @Test func aDeathWhileIdleIsReplacedSilently() throws {
        var machine = try Self.ready([10, 11])
        let (reason, actions) = machine.workerExited(11, startedJobs: 0, death: death(11))
        #expect(reason == .diedIdle)
        #expect(actions.essential == [.spawn(after: nil)])
        #expect(machine.lifecycle == .running)
    }

    @Test func workersThatNeverBecomeReadyBreakThePoolAfterThreeInARow() throws {
        var machine = Self.machine(maxWorkers: 1)
        let task = FakeTask(0)
        _ = try machine.enqueue([task])
        for attempt in 1...3 {
            let pid = pid_t(100 + attempt)
            #expect(machine.workerSpawned(pid) == true)
            let actions = machine.workerExited(pid, startedJobs: 0, death: death(pid)).actions.essential
            if attempt < 3 {
                #expect(actions == [.spawn(after: .milliseconds(1 << (attempt - 1)))])
            } else {
                #expect(actions == [.fail([0], "PebbleError")])
            }
        }
        guard case .broken(let error) = machine.lifecycle else { Issue.record("not broken"); return }
        #expect(error.code == .spawnFailed)
        let refused = refusal { try machine.checkAcceptsWork() }
        #expect(refused == .spawnFailed)
    }

    @Test func afterAWorkerWasReadyDeathsBeforeReadyBackOffFromOneMillisecond() throws {
        var machine = try Self.ready([10])
        _ = machine.workerExited(10, startedJobs: 0, death: death(10))   // idle death: spawn at once
        var backoffs: [Duration?] = []
        for attempt in 1...5 {
            let pid = pid_t(20 + attempt)
            #expect(machine.workerSpawned(pid) == true)
            let actions = machine.workerExited(pid, startedJobs: 0, death: death(pid)).actions.decisions
            backoffs += actions.compactMap { if case .spawn(let after) = $0 { after } else { nil } }
        }
        #expect(backoffs == [.milliseconds(1), .milliseconds(2), .milliseconds(4), .milliseconds(8), .milliseconds(16)])
        #expect(machine.lifecycle == .running)
        #expect(machine.workerSpawned(30) == true)
        _ = machine.workerReady(30)
        #expect(machine.spawnBackoff == nil && machine.failedStarts == 0)
    }

    @Test func anInitializerThatStartsCrashingBreaksThePoolInsteadOfRespawningForever() throws {
        var machine = try Self.ready([10], maxTasks: 1, initializer: true)
        let tasks = (0..<3).map { FakeTask($0) }
        _ = try machine.enqueue(tasks)
        _ = machine.taskFinished(on: 10)      // maxTasks 1: the worker retires
        _ = machine.workerExited(10, startedJobs: 1, death: death(10))
        var failed: [Decision] = []
        for attempt in 1...Machine.initializerDeathLimit {
            let pid = pid_t(20 + attempt)
            #expect(machine.workerSpawned(pid) == true)
            failed += machine.workerExited(pid, startedJobs: 0, death: death(pid)).actions.decisions.filter {
                if case .fail = $0 { true } else { false }
            }
        }
        #expect(failed == [.fail([1, 2], "PebbleError")])
        guard case .broken(let error) = machine.lifecycle else { Issue.record("not broken"); return }
        #expect(error.code == .initializerFailed)
    }

    @Test func anInitializerThatFailsBeforeAnyWorkerWasReadyBreaksThePoolAtOnce() throws {
        var machine = Self.machine(maxWorkers: 1, initializer: true)
        _ = try machine.enqueue([FakeTask(0)])
        #expect(machine.workerSpawned(10) == true)
        #expect(machine.workerExited(10, startedJobs: 0, death: death(10)).actions.essential == [.fail([0], "PebbleError")])
    }

    @Test func closeRetiresIdleWorkersOnceTheQueueIsEmpty() throws {
        var machine = try Self.ready([10, 11])
        let task = FakeTask(0)
        _ = try machine.enqueue([task])
        guard case .running(let busy) = task.phase else { Issue.record("not started"); return }
        let idle: pid_t = busy == 10 ? 11 : 10
        let actions = machine.close().decisions
        #expect(actions.contains(.retire(idle)) && !actions.contains(.retire(busy)))
        #expect(machine.taskFinished(on: busy).actions.essential == [.retire(busy)])
        #expect(machine.workerExited(busy, startedJobs: 1, death: death(busy)).reason == .retired)
        let refused = refusal { _ = try machine.enqueue([FakeTask(1)]) }
        #expect(refused == .poolNotRunning)
    }

    @Test func closeStillRunsQueuedTasksAndStartsWorkersForThem() throws {
        var machine = Self.machine(maxWorkers: 2)
        _ = try machine.enqueue([FakeTask(0)])
        #expect(machine.workerSpawned(10) == true)
        #expect(machine.workerSpawned(11) == true)
        _ = machine.close()
        #expect(machine.workerReady(10).essential == [.send(10, task: 0)])
    }

    @Test func stopKillsEveryWorkerAndFailsQueuedTasksWithCancellation() throws {
        var machine = try Self.ready([10])
        let running = FakeTask(0), queued = FakeTask(1)
        _ = try machine.enqueue([running, queued])
        machine.claims(10).started = 1   // the worker took task 0
        #expect(machine.stop().essential == [.kill(10), .fail([1], "CancellationError")])
        let (reason, actions) = machine.workerExited(10, startedJobs: 1, death: death(10))
        #expect(reason == .stopped)
        #expect(actions.essential == [.fail([0], "CancellationError")])
        #expect(machine.stop().isEmpty)
    }

    @Test func aWorkerSpawnedAfterStopIsKilledAtOnce() throws {
        var machine = Self.machine(maxWorkers: 1)
        _ = try machine.enqueue([FakeTask(0)])
        _ = machine.stop()
        #expect(machine.workerSpawned(10) == false)
    }

    @Test func maxTasksRetiresAWorkerAfterItsLastTaskAndReplacesIt() throws {
        var machine = try Self.ready([10], maxTasks: 2)
        _ = try machine.enqueue((0..<3).map { FakeTask($0) })
        #expect(machine.taskFinished(on: 10).actions.essential == [.send(10, task: 1)])
        #expect(machine.taskFinished(on: 10).actions.essential == [.retire(10), .spawn(after: nil)])
        #expect(machine.workerSpawned(11) == true)
        #expect(machine.workerReady(11).essential == [.send(11, task: 2)])
        #expect(machine.workerExited(10, startedJobs: 2, death: death(10)).reason == .retired)
    }

    @Test func aTimeoutStopsTheWorkerAndItsExitFailsTheTaskWithTimeoutError() throws {
        var machine = try Self.ready([10])
        let task = FakeTask(0, timeout: .milliseconds(5))
        _ = try machine.enqueue([task])
        machine.claims(10).started = 1
        #expect(machine.withdraw(task, reason: .timeout(.milliseconds(5))).stopping == [.disarm(10), .kill(10)])
        #expect(machine.withdraw(task, reason: .cancelled).stopping == [])   // already stopping
        let (reason, actions) = machine.workerExited(10, startedJobs: 1, death: death(10))
        #expect(reason == .timedOut)
        #expect(actions.essential == [.fail([0], "TimeoutError"), .spawn(after: nil)])
    }

    @Test func aReplyThatBeatsTheKillCompletesTheTask() throws {
        var machine = try Self.ready([10])
        let task = FakeTask(0)
        _ = try machine.enqueue([task])
        machine.claims(10).started = 1
        _ = machine.withdraw(task, reason: .timeout(.seconds(1)))
        #expect((machine.taskFinished(on: 10).task as? FakeTask)?.id == 0)
    }

    @Test func aWorkerOverItsMemoryLimitRetiresAfterItsReply() throws {
        var machine = try Self.ready([10])
        _ = try machine.enqueue([FakeTask(0), FakeTask(1)])
        machine.workerWillRetire(10, reason: .memoryLimit)
        let actions = machine.taskFinished(on: 10).actions.essential
        #expect(actions == [.spawn(after: nil)])    // the worker exits by itself; a new one takes task 1
        #expect(machine.workerExited(10, startedJobs: 1, death: death(10)).reason == .memoryLimit)
    }

    @Test func aFullQueueRefusesWorkAndCancelledTasksFreeTheirRoom() throws {
        var machine = try Self.ready([10], maxPending: 2)
        let tasks = (0..<3).map { FakeTask($0) }
        _ = try machine.enqueue([tasks[0]])
        machine.claims(10).started = 1   // the worker took it: it no longer counts against maxPending
        for task in tasks[1...] { _ = try machine.enqueue([task]) }   // one running, two queued
        #expect(machine.room == 0)
        let refused = refusal { _ = try machine.enqueue([FakeTask(3)]) }
        #expect(refused == .queueFull)
        tasks[2].cancel()
        #expect(machine.room == 1)
        _ = try machine.enqueue([FakeTask(4)])
        #expect(machine.pending.count == 2)
    }

    @Test func aMapThatDoesNotFitIsRefusedWhole() throws {
        var machine = try Self.ready([10], maxPending: 2)
        let refused = refusal { _ = try machine.enqueue((0..<4).map { FakeTask($0) }) }
        #expect(refused == .queueFull)
        #expect(machine.pending.isEmpty)
    }

    @Test func aDeadlinePassedWhileQueuedRemovesTheTask() throws {
        var machine = try Self.ready([10])
        let running = FakeTask(0), queued = FakeTask(1)
        _ = try machine.enqueue([running, queued])
        #expect(machine.locate(running)?.pid == 10 && machine.locate(queued) == nil)
        #expect(machine.removePending(queued) == true)
        #expect(machine.removePending(queued) == false)
        #expect(machine.taskFinished(on: 10).actions.essential.isEmpty)
    }
}
