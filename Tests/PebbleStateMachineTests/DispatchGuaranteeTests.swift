// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import Pebble

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The dispatch guarantees (issue 22), one group per guarantee, on the machine with a manual
/// clock, a fake board and a simulated feed.
@Suite struct DispatchGuaranteeTests {
    // MARK: 1. Work-conserving

    @Test func anIdleWorkerTakesTheNextTaskWhileAnotherRunsALongOne() throws {
        var pool = try PoolHarness.ready([10, 11])
        let tasks = (0..<5).map { FakeTask($0) }
        _ = try pool.apply { try $0.enqueue(tasks) }
        #expect(pool.take(10) == 0) // the long one: worker 10 never finishes in this test
        for expected in 1..<5 {
            #expect(pool.take(11) == expected, "worker 11 is idle: it takes the next task at once")
            #expect(pool.finish(11).task == expected)
        }
        #expect(!tasks[0].isDone && tasks[1...].allSatisfy(\.isDone))
    }

    @Test func theFeedIsRefilledAtEveryOutcomeSoAnIdleWorkerAlwaysFindsWork() throws {
        var pool = try PoolHarness.ready([10, 11], feedLimit: 2)
        _ = try pool.apply { try $0.enqueue((0..<10).map { FakeTask($0) }) }
        #expect(pool.take(10) == 0)
        for _ in 1..<10 {
            #expect(pool.takeable.count >= 1, "a queued task is always on the feed for an idle worker")
            #expect(pool.take(11) != nil)
            pool.finish(11)
        }
    }

    // MARK: 2. FIFO start

    @Test func tasksStartInTheOrderTheyWereScheduledWhicheverWorkerTakesThem() throws {
        var pool = try PoolHarness.ready([10, 11, 12], feedLimit: 4)
        _ = try pool.apply { try $0.enqueue((0..<30).map { FakeTask($0) }) }
        var turn = 0
        while pool.startOrder.count < 30 {
            let pid = pid_t(10 + turn % 3)
            turn += 1
            if pool.running[pid, default: []].isEmpty { pool.take(pid) } else if turn % 2 == 0 { pool.finish(pid) }
        }
        #expect(pool.startOrder == Array(0..<30))
    }

    @Test func offeringsLostWithAnIdleWorkerAreOfferedAgainAheadOfLaterTasks() throws {
        var pool = try PoolHarness.ready([10, 11], feedLimit: 3)
        _ = try pool.apply { try $0.enqueue((0..<6).map { FakeTask($0) }) }
        #expect(pool.swallow() == 0) // worker 10 received task 0 and died before taking it
        let decisions = pool.exit(10).decisions.filter { if case .offer = $0 { true } else { false } }
        #expect(decisions == [.offer(task: 0), .offer(task: 1), .offer(task: 2)], "re-offered first, in order")
        #expect(pool.take(11) == 0)
        pool.finish(11)
        #expect(pool.take(11) == 1, "the stale copy of task 1 was skipped")
        pool.finish(11)
        #expect(pool.take(11) == 2)
        pool.finish(11)
        #expect(pool.take(11) == 3)
    }

    // MARK: 3. Truthful state

    @Test func isRunningAndStatisticsCountTakenTasksNotOfferedOnes() throws {
        var pool = try PoolHarness.ready([10, 11])
        let tasks = (0..<6).map { FakeTask($0) }
        _ = try pool.apply { try $0.enqueue(tasks) }
        #expect(tasks.allSatisfy { !$0.isRunning }, "offered, not taken")
        #expect(pool.machine.waiting == 6 && pool.machine.running == 0)
        pool.take(10)
        #expect(tasks[0].isRunning && !tasks[1].isRunning)
        #expect(pool.machine.waiting == 5 && pool.machine.running == 1)
        pool.take(11)
        #expect(pool.machine.waiting == 4 && pool.machine.running == 2, "two workers, two running")
        pool.finish(10)
        #expect(pool.machine.waiting == 4 && pool.machine.running == 1)
    }

    @Test func maxPendingCountsWhatNoWorkerTook() throws {
        var pool = try PoolHarness.ready([10], maxPending: 1)
        _ = try pool.apply { try $0.enqueue([FakeTask(0)]) }
        #expect(pool.machine.room == 0, "offered, not taken: it waits")
        pool.take(10)
        #expect(pool.machine.room == 1, "taken: it runs")
    }

    // MARK: 4. Every task is bounded

    @Test func anOfferingNoIdleWorkerTakesIsOfferedAgainThenTheWedgedWorkerIsReplaced() throws {
        var pool = try PoolHarness.ready([10])
        let task = FakeTask(0, timeout: .milliseconds(500))
        #expect(try pool.apply { try $0.enqueue([task]) }.contains(.checkTakes))
        // Worker 10 is stopped (SIGSTOP): it takes nothing.
        pool.clock.advance(by: .milliseconds(500))
        let first = pool.apply { $0.checkTakes() }
        #expect(first.filter { !$0.isBookkeeping } == [.offer(task: 0)], "first: offered again, nobody killed")
        pool.clock.advance(by: .milliseconds(500))
        let second = pool.apply { $0.checkTakes() }.filter { !$0.isBookkeeping }
        #expect(second.first == .kill(10) && second.contains(.spawn(after: nil)), "then the worker idle all along is replaced")
        #expect(pool.exit(10).reason == .stopped)
        #expect(pool.machine.workerSpawned(11) != nil)
        _ = pool.apply { $0.workerReady(11) }
        #expect(pool.take(11) == 0)
        #expect(task.phase == .offered, "the task itself never failed")
    }

    @Test func busyWorkersAreNeverBlamedForAWaitingOffering() throws {
        var pool = try PoolHarness.ready([10])
        _ = try pool.apply { try $0.enqueue([FakeTask(0), FakeTask(1)]) }
        pool.take(10)
        for _ in 0..<4 {
            pool.clock.advance(by: .seconds(1))
            #expect(pool.apply { $0.checkTakes() }.filter { !$0.isBookkeeping }.isEmpty)
        }
    }

    @Test func aWorkerThatSwallowedAMessageIsFoundByTheTakeCheck() throws {
        var pool = try PoolHarness.ready([10, 11])
        _ = try pool.apply { try $0.enqueue([FakeTask(0), FakeTask(1)]) }
        #expect(pool.swallow() == 0) // worker 10 received it and was stopped before taking it
        #expect(pool.take(11) == 1)
        pool.finish(11)
        pool.clock.advance(by: .seconds(1))
        #expect(pool.apply { $0.checkTakes() }.filter { !$0.isBookkeeping } == [.offer(task: 0)])
        #expect(pool.take(11) == 0)
    }

    // MARK: 5. Exact kills

    @Test func aTimeoutKillsTheWorkerOnlyWhileItRunsThatTask() throws {
        var pool = try PoolHarness.ready([10])
        let first = FakeTask(0, timeout: .milliseconds(5)), second = FakeTask(1)
        _ = try pool.apply { try $0.enqueue([first, second]) }
        pool.take(10)
        let sequence = pool.running[10]![0].sequence
        #expect(pool.apply { $0.taskTaken(on: 10, sequence: sequence) } == [.armTimeout(task: 0)])
        // The worker finishes task 0 and takes task 1 before the pool reads the outcome.
        let offer = pool.running[10]![0]
        #expect(pool.board.finish(slot: offer.slot, sequence: offer.sequence, worker: pool.index(10)))
        #expect(pool.withdraw(first, reason: .timeout(.milliseconds(5))).isFinishing, "done: nothing is killed")
        #expect(!pool.log.contains(.kill(10)))
        #expect(second.phase == .offered && !first.isDone)
    }

    @Test func aCancelKillsOnlyTheWorkerRunningTheTaskAndFailsItAtOnce() throws {
        var pool = try PoolHarness.ready([10, 11])
        let tasks = (0..<3).map { FakeTask($0) }
        _ = try pool.apply { try $0.enqueue(tasks) }
        pool.take(10)
        pool.take(11)
        #expect(pool.withdraw(tasks[0], reason: .cancelled).withdrawn == [.settle(0, "CancellationError"), .kill(10)])
        #expect(tasks[0].phase == .done("CancellationError"), "fails at once, not at the reaping")
        #expect(pool.takeable == [2], "task 2 stays on the feed for any worker")
        let exit = pool.exit(10).decisions
        #expect(!exit.contains { if case .fail(let ids, _) = $0 { ids != [0] } else { false } }, "no other task fails")
        #expect(!exit.contains { if case .offer = $0 { true } else { false } }, "a worker killed while running took nothing else")
        #expect(pool.finish(11).task == 1)
        #expect(pool.take(11) == 2)
    }

    @Test func aCancelledOfferingIsRevokedAndNeverRunsAndNoWorkerIsKilled() throws {
        var pool = try PoolHarness.ready([10])
        let tasks = (0..<3).map { FakeTask($0) }
        _ = try pool.apply { try $0.enqueue(tasks) }
        pool.take(10)
        #expect(pool.withdraw(tasks[1], reason: .cancelled).withdrawn == [.settle(1, "CancellationError")])
        pool.finish(10)
        #expect(pool.take(10) == 2, "the revoked offering is skipped")
        #expect(!pool.log.contains(.kill(10)))
    }

    // MARK: 6. Deadlines

    @Test func aDeadlineOnARunningTaskFailsItAtOnceAndOnAQueuedOneRemovesIt() throws {
        var pool = try PoolHarness.ready([10], feedLimit: 1)
        let running = FakeTask(0), queued = FakeTask(1)
        _ = try pool.apply { try $0.enqueue([running, queued]) }
        pool.take(10)
        #expect(pool.withdraw(running, reason: .timeout(.milliseconds(500))).withdrawn == [.settle(0, "TimeoutError"), .kill(10)])
        #expect(running.phase == .done("TimeoutError"))
        #expect(pool.withdraw(queued, reason: .timeout(.milliseconds(500))).withdrawn == [.settle(1, "TimeoutError")])
        #expect(pool.machine.pending.isEmpty)
    }

    @Test func roomWaitersAreWokenInOrderAndCanLeaveAtTheirDeadline() throws {
        var pool = try PoolHarness.ready([10], maxPending: 1)
        _ = try pool.apply { try $0.enqueue([FakeTask(0)]) }
        #expect(pool.machine.waitForRoom(1, atFront: false) == .wait)
        #expect(pool.machine.waitForRoom(2, atFront: false) == .wait)
        #expect(pool.machine.waitForRoom(3, atFront: false) == .wait)
        let left = pool.machine.stopWaitingForRoom(2), leftAgain = pool.machine.stopWaitingForRoom(2)
        #expect(left && !leftAgain, "waiter 2's deadline passed")
        pool.take(10)
        #expect(pool.apply { $0.wakeRoomWaiters() } == [.wake([1])], "one task's room, for the oldest waiter")
        _ = try pool.apply { try $0.enqueue([FakeTask(1)]) }
        #expect(pool.apply { $0.wakeRoomWaiters() } == [])
        #expect(pool.apply { $0.close() }.contains(.refuse([3])))
    }

    @Test func revokedOfferingsGiveTheirFeedRoomBack() throws {
        var pool = try PoolHarness.ready([10])
        for round in 0..<500 {
            let blocker = FakeTask(2 * round), victim = FakeTask(2 * round + 1)
            _ = try pool.apply { try $0.enqueue([blocker, victim]) }
            #expect(pool.take(10) == blocker.id, "round \(round)")
            #expect(pool.withdraw(victim, reason: .cancelled).withdrawn == [.settle(victim.id, "CancellationError")])
            pool.finish(10)
        }
    }

    // MARK: 7. What the window promised

    @Test func aDeathFailsOnlyTheTakenTaskAndTheRestRunOnTheNextWorker() throws {
        var pool = try PoolHarness.ready([10])
        let tasks = (0..<5).map { FakeTask($0) }
        _ = try pool.apply { try $0.enqueue(tasks) }
        pool.take(10)
        let exit = pool.exit(10).decisions
        #expect(exit.contains(.fail([0], "ProcessExpired")))
        #expect(pool.machine.workerSpawned(11) != nil)
        _ = pool.apply { $0.workerReady(11) }
        for expected in 1..<5 {
            #expect(pool.take(11) == expected)
            pool.finish(11)
        }
    }

    @Test func aTimeoutStartsOnlyWhenAWorkerTakesTheTask() throws {
        var pool = try PoolHarness.ready([10])
        let first = FakeTask(0), timed = FakeTask(1, timeout: .seconds(1))
        let offered = try pool.apply { try $0.enqueue([first, timed]) }
        #expect(!offered.contains(.armTimeout(task: 1)))
        pool.take(10)
        pool.finish(10)
        pool.take(10)
        let sequence = pool.running[10]![0].sequence
        #expect(pool.apply { $0.taskTaken(on: 10, sequence: sequence) } == [.armTimeout(task: 1)])
        #expect(pool.finish(10).decisions.contains(.disarm))
    }

    /// A large request follows on the channel of the worker that took it: its fetch sends the
    /// request there and starts the timeout; a fetch by a worker being stopped gets nothing, one
    /// of a task the worker did not take stops it, and a request that cannot be sent stops the
    /// worker and fails exactly that task with the error.
    @Test func aFetchSendsTheRequestOnlyToTheWorkerThatTookIt() throws {
        var pool = try PoolHarness.ready([10, 11])
        let tasks = [FakeTask(0, timeout: .seconds(1)), FakeTask(1), FakeTask(2)]
        _ = try pool.apply { try $0.enqueue(tasks) }
        pool.take(10)
        let first = pool.running[10]![0].sequence
        #expect(pool.apply { $0.requestFetched(on: 10, sequence: first) } == [.sendRequest(task: 0, worker: 10), .armTimeout(task: 0)])
        pool.take(11)
        let second = pool.running[11]![0].sequence
        #expect(pool.apply { $0.requestFetched(on: 11, sequence: second) } == [.sendRequest(task: 1, worker: 11)])
        // Worker 10 fetches what worker 11 took: it broke the protocol.
        #expect(pool.apply { $0.requestFetched(on: 10, sequence: second) } == [.kill(10)])
        #expect(pool.apply { $0.requestFetched(on: 10, sequence: first) }.isEmpty, "a worker being stopped gets nothing")
        #expect(pool.exit(10).decisions.contains(.fail([0], "PebbleError")))
        // The request of task 1 could not be sent: worker 11 is stopped, task 1 fails with why.
        #expect(pool.apply { $0.requestNotSent(to: 11, sequence: second, error: PebbleError(.spawnFailed, "EMFILE")) } == [.kill(11)])
        let exit = pool.exit(11).decisions
        #expect(exit.contains(.fail([1], "PebbleError")))
        #expect(!exit.contains { if case .fail(let ids, _) = $0 { ids.contains(2) } else { false } }, "no other task fails")
    }
}
