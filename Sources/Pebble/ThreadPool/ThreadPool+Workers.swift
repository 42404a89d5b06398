// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization

extension ThreadPool {
    enum Lifecycle: Equatable {
        case running, closed, stopped, joined
        /// The initializer threw; the message says how.
        case broken(String)
    }

    /// One worker: a serial queue's drain loop, identified by the id of its current incarnation.
    struct WorkerSlot {
        var isDraining = false
        /// `nil` until the current incarnation has started (and run the initializer).
        var workerID: Int?
        var tasksDone = 0
        /// The batch the worker took last; `stop()` cancels those of them not started yet.
        var batch: [any AnyThreadTask] = []
    }

    struct State {
        var lifecycle = Lifecycle.running
        var pending = FIFO<any AnyThreadTask>()
        var workers: [WorkerSlot]
        var nextWorkerID = 1
    }

    /// What a worker does next, decided under the lock and done outside it.
    enum WorkerStep {
        case initialize
        /// Up to `batchSize` tasks taken in one go, started one by one.
        case run([any AnyThreadTask], workerID: Int)
        case exit
    }

    /// How many tasks a worker takes from the queue under one lock.
    static let batchSize = 16

    /// Identifies the pool and worker a task runs on.
    struct WorkerContext: Sendable {
        let pool: ObjectIdentifier
        let workerID: Int
    }

    @TaskLocal static var currentContext: WorkerContext?

    static var currentPool: ObjectIdentifier? { currentContext?.pool }

    /// The id of the thread-pool worker running the current task, `nil` outside a pool task.
    /// A worker replaced after `maxTasks` tasks gets a new id.
    ///
    /// ```swift
    /// let future = try pool.schedule { ThreadPool.currentWorkerID }
    /// ```
    public static var currentWorkerID: Int? { currentContext?.workerID }

    func enqueue(_ tasks: [any AnyThreadTask]) throws {
        let starting: [Int] = try state.withLock { state in
            switch state.lifecycle {
            case .running: break
            case .broken(let message): throw PebbleError(.initializerFailed, message)
            case .closed, .stopped, .joined:
                throw PebbleError(.poolNotRunning, "the pool was closed or stopped; create a new pool to schedule more work")
            }
            for task in tasks { state.pending.append(task) }
            var demand = state.pending.count
            var starting: [Int] = []
            for index in state.workers.indices where demand > 0 && !state.workers[index].isDraining {
                state.workers[index].isDraining = true
                // Entered under the lock so that `join` can never see an empty group while a drain is about to start.
                activeDrains.enter()
                starting.append(index)
                demand -= 1
            }
            return starting
        }
        for index in starting {
            workerQueues[index].async { self.drain(worker: index) }
        }
    }

    /// Runs tasks on one worker until the queue is empty.
    func drain(worker index: Int) {
        defer { activeDrains.leave() }
        var executed = 0
        while true {
            switch nextStep(worker: index, executed: executed) {
            case .exit:
                return
            case .initialize:
                do {
                    try initializer?()
                } catch {
                    breakPool(worker: index, error: error)
                    return
                }
                executed = 0
            case .run(let tasks, let workerID):
                executed = ThreadPool.$currentContext.withValue(WorkerContext(pool: ObjectIdentifier(self), workerID: workerID)) {
                    run(tasks)
                }
            }
        }
    }

    /// Runs a batch. Each task is marked running only now, so one cancelled while it waited in the
    /// batch (by `cancel()` or `stop()`) never starts.
    private func run(_ tasks: [any AnyThreadTask]) -> Int {
        var executed = 0
        for task in tasks {
            if task.start() {
                task.execute()
                executed += 1
            }
        }
        return executed
    }

    func nextStep(worker index: Int, executed: Int) -> WorkerStep {
        state.withLock { state in
            state.workers[index].batch = []
            if executed > 0 {
                state.workers[index].tasksDone += executed
                if maxTasks > 0 && state.workers[index].tasksDone >= maxTasks {
                    state.workers[index].workerID = nil
                }
            }
            if case .broken = state.lifecycle {
                state.workers[index].isDraining = false
                return .exit
            }
            if state.pending.isEmpty {
                return stealTasks(&state, worker: index)
            }
            if state.workers[index].workerID == nil {
                state.workers[index].workerID = state.nextWorkerID
                state.workers[index].tasksDone = 0
                state.nextWorkerID += 1
                if initializer != nil { return .initialize }
            }
            return popNextTask(&state, worker: index)
        }
    }

    /// Takes the next tasks: one at a time, or a batch when the queue is deep enough that every
    /// worker is busy anyway (no more than the worker may still run before `maxTasks` replaces it).
    private func popNextTask(_ state: inout State, worker index: Int) -> WorkerStep {
        let budget = maxTasks > 0 ? maxTasks - state.workers[index].tasksDone : Self.batchSize
        let deep = state.pending.count / (2 * maxWorkers)
        let size = max(1, min(budget, Self.batchSize, deep))
        var batch: [any AnyThreadTask] = []
        batch.reserveCapacity(size)
        while batch.count < size, let task = state.pending.popFirst() {
            batch.append(task)
        }
        state.workers[index].batch = batch
        return .run(batch, workerID: state.workers[index].workerID!)
    }

    /// The queue is empty: before going idle, take half of the tasks another worker holds in its
    /// batch and has not started (it may be stuck on a long one). A task goes to whichever worker
    /// marks it running first, so the two never both run it.
    private func stealTasks(_ state: inout State, worker index: Int) -> WorkerStep {
        guard let workerID = state.workers[index].workerID else {
            state.workers[index].isDraining = false
            return .exit
        }
        for other in state.workers.indices where other != index {
            let waiting = state.workers[other].batch.filter(\.isPending)
            guard !waiting.isEmpty else { continue }
            let stolen = Array(waiting.suffix(max(1, waiting.count / 2)))
            state.workers[index].batch = stolen
            return .run(stolen, workerID: workerID)
        }
        state.workers[index].isDraining = false
        return .exit
    }

    func breakPool(worker index: Int, error: any Error) {
        let message = "the thread pool's initializer threw: \(error)"
        let dropped: [any AnyThreadTask] = state.withLock { state in
            state.workers[index].isDraining = false
            if state.lifecycle == .running || state.lifecycle == .closed {
                state.lifecycle = .broken(message)
            }
            return state.pending.removeAll()
        }
        for task in dropped { task.fail(PebbleError(.initializerFailed, message)) }
    }
}
