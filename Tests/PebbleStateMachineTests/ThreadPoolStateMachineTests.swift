// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import Pebble

/// The thread pool's decisions, driven by hand without a thread or a queue: permits and drains,
/// batches, retirement after `maxTasks`, the initializer, room waiters, `close`/`stop`, steals
/// and deadlines. Tasks are plain `Int`s, waiters `String`s.
@Suite struct ThreadPoolStateMachineTests {
    typealias Machine = ThreadPoolStateMachine<Int, String>

    func started(_ result: Result<Machine.DrainStarts, PebbleError>) throws -> [Int] {
        try result.get().slots
    }

    func code(_ result: Result<Machine.DrainStarts, PebbleError>) -> PebbleError.Code? {
        if case .failure(let error) = result { error.code } else { nil }
    }

    func batch(_ step: Machine.DrainStep) -> [Int]? {
        if case .run(let tasks, _) = step { tasks } else { nil }
    }

    func isIdle(_ step: Machine.DrainStep) -> Bool {
        if case .idle = step { true } else { false }
    }

    @Test func eachTaskStartsADrainWhileThereArePermitsAndNoneBeyond() throws {
        var machine = Machine(maxWorkers: 2)
        #expect(try started(machine.tryEnqueue(0)) == [0])
        // The first drain has not taken its task yet: a second task needs a second drain.
        #expect(try started(machine.tryEnqueue(1)) == [1])
        // Every permit is taken: the task waits in the queue for a running drain.
        #expect(try started(machine.tryEnqueue(2)).isEmpty)
        #expect(machine.active == 2 && machine.pending.count == 3)
    }

    @Test func aTaskCoveredByADrainAboutToStartStartsNoOther() throws {
        var machine = Machine(maxWorkers: 4)
        _ = try started(machine.tryEnqueue(contentsOf: [0, 1]))
        #expect(machine.active == 2)
        // Drain 0 takes one task and runs it; the one left is covered by drain 1.
        #expect(batch(machine.nextStep(slot: 0, executed: 0) { _ in true }) == [0])
        #expect(try started(machine.tryEnqueue(2)) == [2], "task 2 is beyond what drain 1 will take")
    }

    @Test func aDrainTakesOneTaskAtATimeUnlessTheQueueIsDeepThenGoesIdle() throws {
        var machine = Machine(maxWorkers: 2, batchSize: 16)
        _ = machine.tryEnqueue(contentsOf: Array(0..<40))
        // 40 queued, 2 workers: a batch of 16.
        #expect(batch(machine.nextStep(slot: 0, executed: 0) { _ in true }) == Array(0..<16))
        #expect(batch(machine.nextStep(slot: 1, executed: 0) { _ in true }) == Array(16..<28))
        #expect(batch(machine.nextStep(slot: 0, executed: 16) { _ in true }) == Array(28..<34))
        #expect(batch(machine.nextStep(slot: 0, executed: 6) { _ in true }) == Array(34..<37))
        #expect(batch(machine.nextStep(slot: 0, executed: 3) { _ in true }) == [37])
        #expect(batch(machine.nextStep(slot: 0, executed: 1) { _ in true }) == [38])
        #expect(batch(machine.nextStep(slot: 0, executed: 1) { _ in true }) == [39])
        #expect(isIdle(machine.nextStep(slot: 0, executed: 1) { _ in false }))
        #expect(machine.active == 1)
        #expect(isIdle(machine.nextStep(slot: 1, executed: 12) { _ in false }))
        #expect(machine.active == 0)
        // The permits are free again: the next task starts a drain.
        #expect(try started(machine.tryEnqueue(40)).count == 1)
    }

    @Test func aWorkerIsRetiredAfterMaxTasksAndItsSlotRestartsForQueuedTasks() throws {
        var machine = Machine(maxWorkers: 1, maxTasks: 2)
        _ = machine.tryEnqueue(contentsOf: [0, 1, 2])
        guard case .run(let first, let worker) = machine.nextStep(slot: 0, executed: 0, isPending: { _ in true }) else {
            Issue.record("no batch")
            return
        }
        // A batch never goes past what the worker may still run.
        #expect(first == [0, 1])
        guard case .retire(restart: true) = machine.nextStep(slot: 0, executed: 2, isPending: { _ in true }) else {
            Issue.record("not retired with a restart")
            return
        }
        // The permit passed to the restarted drain, on a fresh queue; a new worker id.
        #expect(machine.active == 1 && machine.slots[0].generation == 1)
        guard case .run(let next, let newWorker) = machine.nextStep(slot: 0, executed: 0, isPending: { _ in true }) else {
            Issue.record("no batch after the restart")
            return
        }
        #expect(next == [2] && newWorker != worker)
        #expect(isIdle(machine.nextStep(slot: 0, executed: 1) { _ in true }))
        // One more task: the same worker, which then retires without a restart (nothing queued).
        _ = machine.tryEnqueue(3)
        #expect(batch(machine.nextStep(slot: 0, executed: 0) { _ in true }) == [3])
        guard case .retire(restart: false) = machine.nextStep(slot: 0, executed: 1, isPending: { _ in true }) else {
            Issue.record("not retired")
            return
        }
        #expect(machine.active == 0 && machine.slots[0].generation == 2)
    }

    @Test func aNewWorkerRunsTheInitializerFirstAndAFailureBreaksThePool() throws {
        var machine = Machine(maxWorkers: 2, hasInitializer: true)
        _ = machine.tryEnqueue(contentsOf: [0, 1, 2])
        guard case .initialize = machine.nextStep(slot: 0, executed: 0, isPending: { _ in true }) else {
            Issue.record("no initializer")
            return
        }
        machine.initialized(slot: 0)
        #expect(batch(machine.nextStep(slot: 0, executed: 0) { _ in true }) == [0])
        guard case .initialize = machine.nextStep(slot: 1, executed: 0, isPending: { _ in true }) else {
            Issue.record("no initializer")
            return
        }
        let (dropped, waiters) = machine.initializerFailed(slot: 1, message: "boom")
        #expect(dropped == [1, 2] && waiters.isEmpty)
        #expect(machine.lifecycle == .broken("boom"))
        #expect(code(machine.tryEnqueue(3)) == .initializerFailed)
        // The other drain ends after its task.
        #expect(isIdle(machine.nextStep(slot: 0, executed: 1) { _ in true }))
        #expect(machine.active == 0)
    }

    @Test func maxPendingRefusesAndRoomWaitersGoInFIFOOrder() throws {
        var machine = Machine(maxWorkers: 1, maxPending: 1)
        _ = try machine.tryEnqueue(0, started: 0).get()
        #expect(code(machine.tryEnqueue(1, started: 0)) == .queueFull)
        let a = machine.reserveWaiterID(), b = machine.reserveWaiterID(), c = machine.reserveWaiterID()
        for (id, name) in [(a, "a"), (b, "b"), (c, "c")] {
            guard case .waiting = machine.waitForRoom(id: id, task: 10 + id, waiter: name, isCancelled: false, started: 0) else {
                Issue.record("\(name) did not wait")
                return
            }
        }
        #expect(machine.cancelWaiter(id: b) == "b")
        // Room appears (task 0 started), even for a task: waiters are ahead of `schedule`.
        #expect(code(machine.tryEnqueue(1, started: 1)) == .queueFull)
        let (admitted, _) = machine.admitWaiters(started: 1)
        #expect(admitted == ["a"])
        #expect(machine.pending.count == 2)
        #expect(machine.admitWaiters(started: 2).admitted == ["c"])
        #expect(machine.waiters.isEmpty)
    }

    @Test func aCancelledTaskOrAClosedPoolIsRefusedRoom() {
        var machine = Machine(maxWorkers: 1, maxPending: 0)
        guard case .refused(let error) = machine.waitForRoom(id: 0, task: 0, waiter: "x", isCancelled: true, started: 0) else {
            Issue.record("a cancelled waiter waits")
            return
        }
        #expect(error is CancellationError)
        guard case .waiting = machine.waitForRoom(id: 1, task: 1, waiter: "y", isCancelled: false, started: 0) else {
            Issue.record("did not wait")
            return
        }
        #expect(machine.close() == ["y"])
        guard case .refused = machine.waitForRoom(id: 2, task: 2, waiter: "z", isCancelled: false, started: 0) else {
            Issue.record("a closed pool gave room")
            return
        }
    }

    @Test func closeLetsQueuedTasksRunAndStopDropsQueuedAndBatchedOnes() throws {
        var closing = Machine(maxWorkers: 1)
        _ = closing.tryEnqueue(contentsOf: [0, 1])
        _ = closing.close()
        #expect(code(closing.tryEnqueue(2)) == .poolNotRunning)
        #expect(batch(closing.nextStep(slot: 0, executed: 0) { _ in true }) == [0, 1])
        #expect(isIdle(closing.nextStep(slot: 0, executed: 2) { _ in true }))

        var stopping = Machine(maxWorkers: 1, batchSize: 4)
        _ = stopping.tryEnqueue(contentsOf: Array(0..<10))
        #expect(batch(stopping.nextStep(slot: 0, executed: 0) { _ in true }) == [0, 1, 2, 3])
        let (dropped, _) = stopping.stop()
        #expect(Set(dropped) == Set(0..<10), "the batch taken but not started is dropped too")
        #expect(isIdle(stopping.nextStep(slot: 0, executed: 1) { _ in true }))
        #expect(stopping.active == 0)
        stopping.joined()
        #expect(stopping.lifecycle == .joined)
    }

    @Test func anIdleDrainStealsHalfOfTheUnstartedTasksOfABusyOne() throws {
        var machine = Machine(maxWorkers: 2, batchSize: 8)
        _ = machine.tryEnqueue(contentsOf: Array(0..<16))
        #expect(batch(machine.nextStep(slot: 0, executed: 0) { _ in true }) == Array(0..<8))
        var executed = 0
        var taken: [Int] = []
        while machine.pending.count > 0, let tasks = batch(machine.nextStep(slot: 1, executed: executed) { _ in true }) {
            taken += tasks
            executed = tasks.count
        }
        #expect(taken == Array(8..<16))
        // Slot 0 is stuck on task 0; slot 1 finished: it steals half of tasks 1–7.
        #expect(batch(machine.nextStep(slot: 1, executed: executed) { $0 != 0 }) == [5, 6, 7])
    }

    @Test func aDrainThatSpinsTakesTheNextTaskWithoutAnotherDrainStarting() throws {
        var machine = Machine(maxWorkers: 2)
        _ = machine.tryEnqueue(0)
        #expect(batch(machine.nextStep(slot: 0, executed: 0) { _ in true }) == [0])
        guard case .spin(let seen) = machine.nextStep(slot: 0, executed: 1, canSpin: true, isPending: { _ in true }) else {
            Issue.record("no spin")
            return
        }
        #expect(seen == 1 && machine.spinning == 1 && machine.active == 1)
        // The spinning drain will take it: no second drain starts.
        #expect(try started(machine.tryEnqueue(1)).isEmpty)
        #expect(try started(machine.tryEnqueue(2)) == [1], "one task beyond what the spinner takes")
        #expect(batch(machine.nextStep(slot: 1, executed: 0, canSpin: true) { _ in true }) == [1])
        // Back from its spin, drain 0 takes the next task.
        #expect(batch(machine.nextStep(slot: 0, executed: 0, canSpin: true) { _ in true }) == [2])
        #expect(machine.spinning == 0)
        guard case .spin = machine.nextStep(slot: 0, executed: 1, canSpin: true, isPending: { _ in true }) else {
            Issue.record("no spin")
            return
        }
        // Never two spinning drains: drain 1 ends.
        #expect(isIdle(machine.nextStep(slot: 1, executed: 1, canSpin: true) { _ in true }))
        // Nor a spin once the pool is closed.
        _ = machine.close()
        #expect(isIdle(machine.nextStep(slot: 0, executed: 0, canSpin: true) { _ in true }))
        #expect(machine.active == 0 && machine.spinning == 0)
    }

    @Test func aTaskPastItsDeadlineDoesNotStart() {
        let now = ContinuousClock.now
        #expect(Machine.start(deadline: nil, now: now) == .run)
        #expect(Machine.start(deadline: now + .seconds(1), now: now) == .run)
        #expect(Machine.start(deadline: now, now: now) == .pastDeadline)
    }

    /// Random schedules, drain steps and lifecycle calls: the permits never exceed `maxWorkers`,
    /// every task is run or dropped exactly once, and a queued task always has a drain.
    @Test func permitsStayBoundedAndNoTaskIsLostUnderRandomEvents() throws {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<200 {
            let workers = Int.random(in: 1...4, using: &generator)
            var machine = Machine(
                maxWorkers: workers, maxTasks: Int.random(in: 0...3, using: &generator),
                batchSize: Int.random(in: 1...4, using: &generator))
            var drains: [Int: [Int]] = [:] // slot → batch in hand
            var outcomes: [Int: Int] = [:]
            var next = 0
            func record(_ starts: Machine.DrainStarts) {
                for slot in starts.slots {
                    #expect(drains[slot] == nil, "two drains on slot \(slot)")
                    drains[slot] = []
                }
            }
            func step(_ slot: Int) {
                let executed = drains[slot]!.count
                for task in drains[slot]! { outcomes[task, default: 0] += 1 }
                switch machine.nextStep(slot: slot, executed: executed, canSpin: Bool.random(using: &generator), isPending: { _ in false })
                {
                case .run(let tasks, _): drains[slot] = tasks
                case .spin: drains[slot] = []
                case .initialize: Issue.record("no initializer here")
                case .idle, .retire(restart: false): drains[slot] = nil
                case .retire(restart: true): drains[slot] = []
                }
            }
            for _ in 0..<100 {
                switch Int.random(in: 0..<10, using: &generator) {
                case 0..<4:
                    if case .success(let starts) = machine.tryEnqueue(next) { record(starts) }
                    next += 1
                default:
                    if let slot = drains.keys.randomElement(using: &generator) { step(slot) }
                }
                #expect(machine.active <= workers && machine.active == drains.count)
                #expect(machine.pending.isEmpty || machine.active > 0, "round \(round): tasks queued with no drain")
            }
            _ = machine.close()
            while let slot = drains.keys.first { step(slot) }
            #expect(machine.pending.isEmpty && machine.active == 0)
            #expect(outcomes.count == next && outcomes.values.allSatisfy { $0 == 1 }, "round \(round)")
        }
    }
}

extension ThreadPoolStateMachine {
    /// `enqueue` as a `Result`, for expectations.
    mutating func tryEnqueue(_ task: Task, started: Int = 0) -> Result<DrainStarts, PebbleError> {
        Result { () throws(PebbleError) in try enqueue(task, started: started) }
    }

    mutating func tryEnqueue(contentsOf tasks: [Task], started: Int = 0) -> Result<DrainStarts, PebbleError> {
        Result { () throws(PebbleError) in try enqueue(contentsOf: tasks, started: started) }
    }
}
