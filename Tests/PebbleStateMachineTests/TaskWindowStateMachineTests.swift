// SPDX-License-Identifier: Apache-2.0
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
@testable import Pebble

/// A clock a test moves by hand.
final class ManualClock: @unchecked Sendable {
    // @unchecked: each test drives the machine from one thread.
    var now = ContinuousClock.now
}

/// The windows of tasks in flight, decided without a process: revocation, the give-back at a
/// death, steals by idle workers and the give-back of an overdue worker.
@Suite struct TaskWindowStateMachineTests {
    typealias Machine = ProcessPoolStateMachine

    static func ready(_ pids: [pid_t], window: Int = 4, clock: ManualClock = ManualClock()) -> Machine {
        var settings = Machine.Settings(maxWorkers: pids.count, windowSize: window)
        settings.now = { clock.now }
        var machine = Machine(settings: settings)
        _ = try? machine.enqueue([])
        for pid in pids {
            _ = machine.workerSpawned(pid)
            _ = machine.workerReady(pid)
        }
        return machine
    }

    @Test func tasksGoToTheWorkerWithTheFewestAndABurstFillsEachWindowInOneSend() throws {
        var machine = Self.ready([10, 11])
        let tasks = (0..<10).map { FakeTask($0) }
        let sends = try machine.enqueue(tasks).filter { if case .send = $0 { true } else { false } }
        #expect(sends.count == 2, "one send per worker")
        #expect(machine.workers[10]!.window.count == 4 && machine.workers[11]!.window.count == 4)
        #expect(machine.pending.count == 2)
    }

    @Test func aSentTaskRevokedBeforeItIsTakenLeavesTheWindowAndNoWorkerIsKilled() throws {
        var machine = Self.ready([10])
        let first = FakeTask(0), second = FakeTask(1)
        _ = try machine.enqueue([first, second])
        machine.claims(10).started = 1
        guard let actions = machine.withdraw(second, reason: .cancelled).revoked else {
            Issue.record("not revoked"); return
        }
        #expect(!actions.contains(.kill(10)))
        #expect(machine.workers[10]!.window.map { ($0.task as! FakeTask).id } == [0])
        #expect(machine.claims(10).revoked == [2])
        // The taken one cannot be revoked: its worker is stopped.
        #expect(machine.withdraw(first, reason: .cancelled).stopping == [.disarm(10), .kill(10)])
    }

    @Test func aDeathFailsOnlyTheTakenTaskAndGivesBackTheRestInOrder() throws {
        var machine = Self.ready([10])
        let tasks = (0..<4).map { FakeTask($0) }
        _ = try machine.enqueue(tasks)
        let (reason, actions) = machine.workerExited(10, startedJobs: 1, death: death(10))
        #expect(reason == .crashed)
        #expect(actions.essential == [.fail([0], "ProcessExpired"), .spawn(after: nil)])
        var pending = machine.pending
        #expect(pending.removeAll().map { ($0 as! FakeTask).id } == [1, 2, 3])
        #expect(tasks[1...].allSatisfy { $0.phase == .pending })
    }

    @Test func anIdleWorkerStealsHalfOfWhatWaitsBehindTheBusiestOnesTask() throws {
        var machine = Self.ready([10, 11])
        let tasks = (0..<8).map { FakeTask($0) }
        _ = try machine.enqueue(tasks)
        machine.claims(10).started = 1
        machine.claims(11).started = 4
        for _ in 0..<3 { _ = machine.taskFinished(on: 11) }
        let actions = machine.taskFinished(on: 11).actions
        let stolen = actions.decisions.compactMap { if case .send(11, let task) = $0 { task } else { nil } }
        #expect(stolen.count == 2, "half of the four in worker 10's window")
        #expect(machine.workers[10]!.window.count == 2)
    }

    @Test func anOverdueWorkerGivesBackWhatWaitsBehindItsTaskAtTheNextEvent() throws {
        let clock = ManualClock()
        var machine = Self.ready([10, 11], clock: clock)
        let tasks = (0..<12).map { FakeTask($0) }
        _ = try machine.enqueue(tasks)
        machine.claims(10).started = 1
        machine.claims(11).started = 1
        let waiting = machine.workers[10]!.window.dropFirst().map { ($0.task as! FakeTask).id }
        clock.now += .milliseconds(50)
        // Worker 11 answers: worker 10's task has run 50 ms; its three waiting tasks go back to
        // the head of the queue, and worker 10 takes nothing until its task is done.
        _ = machine.taskFinished(on: 11)
        #expect(machine.workers[10]!.window.count == 1)
        #expect(machine.workers[10]!.isOverdue)
        #expect(machine.claims(10).revoked.count == 3)
        var pending = machine.pending
        #expect(Array(pending.removeAll().prefix(3).map { ($0 as! FakeTask).id }) == waiting, "given back at the head, in order")
        _ = machine.taskFinished(on: 10)
        #expect(!machine.workers[10]!.isOverdue)
    }
}
