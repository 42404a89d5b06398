// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import Pebble

/// The thread pool's idle workers (`idleTimeout`, `minWorkers`), driven by hand with a manual
/// clock: instants built from one base instant.
@Suite struct ThreadPoolStateMachineIdleTests {
    typealias Machine = ThreadPoolStateMachine<Int, String>
    let t0 = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int64(seconds * 1000)) }

    func workerID(_ step: Machine.DrainStep) -> Int? {
        switch step {
        case .run(_, let id), .initialize(let id): id
        default: nil
        }
    }

    func isIdle(_ step: Machine.DrainStep) -> Bool {
        if case .idle = step { true } else { false }
    }

    /// Two workers run one task each and go idle at 0 s and 1 s.
    func twoIdleWorkers(minWorkers: Int) throws -> (Machine, [Int]) {
        var machine = Machine(maxWorkers: 2, minWorkers: minWorkers, idleTimeout: .seconds(10))
        _ = machine.tryEnqueue(contentsOf: [1, 2])
        let a = try #require(workerID(machine.nextStep(slot: 0, executed: 0) { _ in true }))
        let b = try #require(workerID(machine.nextStep(slot: 1, executed: 0) { _ in true }))
        #expect(isIdle(machine.nextStep(slot: 0, executed: 1) { _ in false }))
        #expect(machine.wentIdle(slot: 0, now: at(0)) == at(10), "the first idle worker arms the timer")
        #expect(isIdle(machine.nextStep(slot: 1, executed: 1) { _ in false }))
        #expect(machine.wentIdle(slot: 1, now: at(1)) == nil, "already armed, for an earlier deadline")
        #expect(machine.liveWorkers == 2)
        return (machine, [a, b])
    }

    @Test func idleWorkersEndAfterTheTimeoutLongestIdleFirst() throws {
        var (machine, ids) = try twoIdleWorkers(minWorkers: 0)
        let first = machine.idleTimerFired(now: at(10))
        #expect(first.ended == [ids[0]] && first.next == at(11))
        #expect(machine.idleTimerDeadline == at(11))
        let second = machine.idleTimerFired(now: at(11))
        #expect(second.ended == [ids[1]] && second.next == nil)
        #expect(machine.liveWorkers == 0 && machine.idleTimerDeadline == nil)
    }

    @Test func workersNeverEndBelowMinWorkers() throws {
        var (machine, ids) = try twoIdleWorkers(minWorkers: 1)
        let fired = machine.idleTimerFired(now: at(60))
        #expect(fired.ended == [ids[0]], "only the one above minWorkers ends")
        #expect(fired.next == nil, "nothing left that may end: the timer stays disarmed")
        #expect(machine.liveWorkers == 1)
    }

    @Test func anEarlyOrStaleFiringEndsNothingAndRearms() throws {
        var (machine, _) = try twoIdleWorkers(minWorkers: 0)
        // The most recently idle slot (1) is busy again before the timer fires: slot 0 ends,
        // and nothing else may end.
        #expect(try machine.tryEnqueue(3).get().slots == [1])
        #expect(workerID(machine.nextStep(slot: 1, executed: 0) { _ in true }) != nil)
        let fired = machine.idleTimerFired(now: at(10))
        #expect(fired.ended.count == 1 && fired.next == nil)
        // Slot 1 goes idle at 20 s: the timer is armed again; a firing before it ends nothing.
        #expect(isIdle(machine.nextStep(slot: 1, executed: 1) { _ in false }))
        #expect(machine.wentIdle(slot: 1, now: at(20)) == at(30))
        let early = machine.idleTimerFired(now: at(25))
        #expect(early.ended.isEmpty && early.next == at(30))
    }

    @Test func anEndedWorkersSlotStartsANewWorkerThatRunsTheInitializer() throws {
        var machine = Machine(maxWorkers: 1, hasInitializer: true, idleTimeout: .seconds(1))
        _ = machine.tryEnqueue(1)
        guard case .initialize(let first) = machine.nextStep(slot: 0, executed: 0, isPending: { _ in true }) else {
            Issue.record("a new worker runs the initializer first")
            return
        }
        machine.initialized(slot: 0)
        #expect(workerID(machine.nextStep(slot: 0, executed: 0) { _ in true }) == first)
        #expect(isIdle(machine.nextStep(slot: 0, executed: 1) { _ in false }))
        #expect(machine.wentIdle(slot: 0, now: at(0)) == at(1))
        #expect(machine.idleTimerFired(now: at(1)).ended == [first])
        // New work: a drain starts at once, with a new worker that runs the initializer again.
        #expect(try machine.tryEnqueue(2).get().slots == [0])
        guard case .initialize(let second) = machine.nextStep(slot: 0, executed: 0, isPending: { _ in true }) else {
            Issue.record("the new worker runs the initializer again")
            return
        }
        #expect(second != first)
    }

    @Test func withoutIdleTimeoutNothingIsArmedOrEnded() throws {
        var machine = Machine(maxWorkers: 1)
        _ = machine.tryEnqueue(1)
        _ = machine.nextStep(slot: 0, executed: 0) { _ in true }
        _ = machine.nextStep(slot: 0, executed: 1) { _ in false }
        #expect(machine.wentIdle(slot: 0, now: at(0)) == nil)
        #expect(machine.idleTimerFired(now: at(100)).ended.isEmpty)
        #expect(machine.liveWorkers == 1)
    }

    @Test func aStoppedPoolEndsNoWorker() throws {
        var (machine, _) = try twoIdleWorkers(minWorkers: 0)
        _ = machine.stop()
        #expect(machine.idleTimerFired(now: at(60)).ended.isEmpty)
    }
}
