@testable import Pebble

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A state machine with the world around it played by the test: the feed (the offerings sent, in
/// order), the board, the clock, and workers that take from the feed and answer.
struct PoolHarness {
    typealias Machine = ProcessPoolStateMachine

    var machine: Machine
    let board = FakeBoard()
    let clock = ManualClock()
    /// Messages on the feed, oldest first (stale ones included: a worker skips them).
    private(set) var feed: [Machine.Offer] = []
    /// What each worker took, in order, and has not answered.
    private(set) var running: [pid_t: [Machine.Offer]] = [:]
    /// Every decision so far.
    private(set) var log: [Decision] = []
    /// Tasks in the order workers took them.
    private(set) var startOrder: [Int] = []

    init(
        maxWorkers: Int = 1, maxTasks: Int = 0, initializer: Bool = false, maxPending: Int? = nil, feedLimit: Int = 64,
        idleTimeout: Duration? = nil, minWorkers: Int = 0
    ) {
        let clock = self.clock
        var settings = Machine.Settings(maxWorkers: maxWorkers, maxTasks: maxTasks, hasInitializer: initializer, maxPending: maxPending)
        settings.feedLimit = feedLimit
        settings.now = { clock.now }
        settings.nanoseconds = { clock.nanoseconds }
        settings.idleTimeout = idleTimeout
        settings.minWorkers = minWorkers
        machine = Machine(settings: settings, board: board, slots: 64)
    }

    /// A harness with `pids` spawned and ready.
    static func ready(
        _ pids: [pid_t], maxTasks: Int = 0, initializer: Bool = false, maxPending: Int? = nil,
        feedLimit: Int = 64
    ) throws -> PoolHarness {
        var harness = PoolHarness(
            maxWorkers: pids.count, maxTasks: maxTasks, initializer: initializer, maxPending: maxPending,
            feedLimit: feedLimit)
        let spawns = try harness.apply { try $0.enqueue([]) }
        precondition(spawns == Array(repeating: .spawn(after: nil), count: pids.count))
        for pid in pids {
            precondition(harness.machine.workerSpawned(pid) != nil)
            _ = harness.apply { $0.workerReady(pid) }
        }
        return harness
    }

    /// Runs an event, records its offers on the feed, and returns its decisions.
    @discardableResult
    mutating func apply(_ event: (inout Machine) throws -> [Machine.Action]) rethrows -> [Decision] {
        let actions = try event(&machine)
        record(actions)
        return actions.decisions
    }

    mutating func record(_ actions: [Machine.Action]) {
        for action in actions { if case .offer(let offers) = action { feed += offers } }
        log += actions.decisions
    }

    func index(_ pid: pid_t) -> Int { machine.workers[pid]!.index }

    /// Worker `pid` receives messages from the feed until one it can take; returns that task's id
    /// (`nil` when the feed has nothing it can take). Like a real worker, it takes only when idle.
    @discardableResult
    mutating func take(_ pid: pid_t) -> Int? {
        precondition(running[pid, default: []].isEmpty, "a worker takes a task only when idle")
        while !feed.isEmpty {
            let offer = feed.removeFirst()
            if board.take(slot: offer.slot, sequence: offer.sequence, worker: index(pid)) {
                running[pid, default: []].append(offer)
                let id = (offer.task as! FakeTask).id
                startOrder.append(id)
                return id
            }
        }
        return nil
    }

    /// Worker `pid` receives the next message and stops (SIGSTOP) before taking it: it is gone
    /// from the feed.
    mutating func swallow() -> Int? {
        guard !feed.isEmpty else { return nil }
        return (feed.removeFirst().task as! FakeTask).id
    }

    /// Worker `pid` finishes its task (if the pool is not stopping it for that task) and its
    /// outcome arrives. Returns the id of the task the machine resolved, and the decisions.
    @discardableResult
    mutating func finish(_ pid: pid_t) -> (task: Int?, decisions: [Decision]) {
        guard let offer = running[pid]?.first else { preconditionFailure("worker \(pid) runs nothing") }
        guard board.finish(slot: offer.slot, sequence: offer.sequence, worker: index(pid)) else { return (nil, []) }
        running[pid]!.removeFirst()
        let (tasks, actions) = machine.tasksFinished(on: pid, count: 1)
        record(actions)
        let task = tasks[0] as? FakeTask
        task?.resolve(.value, [], usage: nil)
        return (task?.id, actions.decisions)
    }

    /// Worker `pid` exited (died or was killed).
    @discardableResult
    mutating func exit(_ pid: pid_t) -> (reason: ProcessPool.WorkerExitReason, decisions: [Decision]) {
        running[pid] = nil
        let (reason, actions) = machine.workerExited(pid, death: death(pid))
        record(actions)
        for action in actions { if case .fail(let tasks, let error) = action { tasks.forEach { $0.fail(error) } } }
        return (reason, actions.decisions)
    }

    /// Performs a withdrawal's settles (as the core does under its lock) and returns it.
    mutating func withdraw(_ task: FakeTask, reason: Machine.StopReason) -> Machine.Withdrawal {
        let withdrawal = machine.withdraw(task, reason: reason)
        if case .withdrawn(let actions) = withdrawal {
            record(actions)
            for action in actions { if case .settle(let task, let error) = action { _ = task.settle(error) } }
        }
        return withdrawal
    }

    /// Ids of the tasks on the feed that a worker could still take, in order.
    var takeable: [Int] {
        feed.filter { board.state(slot: $0.slot, sequence: $0.sequence) == .offered }.map { ($0.task as! FakeTask).id }
    }
}

extension ProcessPoolStateMachine.Withdrawal {
    /// The decisions when withdrawn; `nil` otherwise.
    var withdrawn: [Decision]? { if case .withdrawn(let actions) = self { actions.essential } else { nil } }
    var isFinishing: Bool { if case .finishing = self { true } else { false } }
}
