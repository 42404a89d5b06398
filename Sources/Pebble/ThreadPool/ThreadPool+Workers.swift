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
        /// Async `run` calls waiting for room under `maxPending`, by id; `waiterOrder` is their
        /// FIFO (ids of cancelled waiters are skipped when they come up).
        var waiters: [Int: RoomWaiter] = [:]
        var waiterOrder = FIFO<Int>()
        var nextWaiterID = 0
        /// Tasks ever appended to the queue (the statistics subtract those that left it).
        var enqueued = 0
    }

    /// An async `run` waiting for room, with the task it will enqueue.
    struct RoomWaiter {
        let task: any AnyThreadTask
        let continuation: CheckedContinuation<Void, any Error>
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

    /// Throws what `schedule` must throw when the pool takes no work.
    static func checkAccepts(_ lifecycle: Lifecycle) throws {
        switch lifecycle {
        case .running: break
        case .broken(let message): throw PebbleError(.initializerFailed, message)
        case .closed, .stopped, .joined:
            throw PebbleError(.poolNotRunning, "the pool was closed or stopped; create a new pool to schedule more work")
        }
    }

    /// Whether `count` more tasks fit under `maxPending`. Read under the state lock, where every
    /// increment of `pending` happens, so the queue never grows past the bound.
    func hasRoom(for count: Int, enqueued: Int) -> Bool {
        guard let maxPending = configuration.maxPending else { return true }
        return tally.pending(enqueued: enqueued) + count <= maxPending
    }

    /// Enqueues `tasks`, or throws `.queueFull` (enqueuing nothing) when they do not fit.
    func enqueue(_ tasks: [any AnyThreadTask]) throws {
        let starting: [Int]
        do {
            starting = try state.withLock { state in
                try Self.checkAccepts(state.lifecycle)
                // Waiting `run` calls are ahead in line.
                guard state.waiters.isEmpty, hasRoom(for: tasks.count, enqueued: state.enqueued) else {
                    throw PebbleError(.queueFull, "the pool's queue holds its maxPending of \(configuration.maxPending ?? 0) "
                                      + "tasks; try again later, or use the async run, which waits for room")
                }
                return append(tasks, to: &state)
            }
        } catch {
            for task in tasks { task.armDeadline(accepted: false) }
            throw error
        }
        for task in tasks { task.armDeadline(accepted: true) }
        startDrains(starting)
    }

    /// Enqueues `task`, first waiting in FIFO order for room under `maxPending`. A Task cancelled
    /// while it waits throws `CancellationError` and enqueues nothing.
    func enqueueWaitingForRoom(_ task: any AnyThreadTask) async throws {
        guard configuration.maxPending != nil else { return try enqueue([task]) }
        let id = state.withLock { state in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        do {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    enum Admission { case admitted([Int]), waiting, refused(any Error) }
                    let admission: Admission = state.withLock { state in
                        do { try Self.checkAccepts(state.lifecycle) } catch { return .refused(error) }
                        // Cancellation sets the flag before running the handler below, so either
                        // this sees it or the handler finds the waiter.
                        if Task.isCancelled { return .refused(CancellationError()) }
                        // Announced before the room check, so that a task leaving the queue at
                        // the same moment either makes room that we see or sees us waiting.
                        tally.waiters.wrappingAdd(1, ordering: .sequentiallyConsistent)
                        if state.waiters.isEmpty && hasRoom(for: 1, enqueued: state.enqueued) {
                            tally.waiters.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                            return .admitted(append([task], to: &state))
                        }
                        state.waiters[id] = RoomWaiter(task: task, continuation: continuation)
                        state.waiterOrder.append(id)
                        return .waiting
                    }
                    switch admission {
                    case .admitted(let starting):
                        startDrains(starting)
                        continuation.resume()
                    case .waiting:
                        roomWaiterAdded.withLock { $0 }?()
                    case .refused(let error):
                        continuation.resume(throwing: error)
                    }
                }
            } onCancel: {
                let waiter: RoomWaiter? = state.withLock { state in
                    guard let waiter = state.waiters.removeValue(forKey: id) else { return nil }
                    tally.waiters.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                    return waiter
                }
                waiter?.continuation.resume(throwing: CancellationError())
            }
        } catch {
            task.armDeadline(accepted: false)
            throw error
        }
        task.armDeadline(accepted: true)
    }

    /// Called (with `maxPending` set) when a task left the queue, started or completed while
    /// queued, after counting it: admits waiting `run` calls if there are any.
    func admitWaitersIfAny() {
        if tally.waiters.load(ordering: .sequentiallyConsistent) > 0 { admitWaiters() }
    }

    /// Moves waiting `run` calls into the queue, oldest first, while there is room.
    private func admitWaiters() {
        let (admitted, starting): ([RoomWaiter], [Int]) = state.withLock { state in
            var admitted: [RoomWaiter] = []
            guard state.lifecycle == .running else { return ([], []) }
            while hasRoom(for: 1, enqueued: state.enqueued), let id = state.waiterOrder.popFirst() {
                guard let waiter = state.waiters.removeValue(forKey: id) else { continue }
                tally.waiters.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                admitted.append(waiter)
                _ = append([waiter.task], to: &state)
            }
            return (admitted, admitted.isEmpty ? [] : claimIdleWorkers(&state))
        }
        startDrains(starting)
        for waiter in admitted { waiter.continuation.resume() }
    }

    /// Fails every waiting `run` call with `error` (the pool closed, stopped or broke).
    func failWaiters(_ state: inout State) -> [RoomWaiter] {
        let waiters = Array(state.waiters.values)
        state.waiters = [:]
        state.waiterOrder = FIFO()
        if !waiters.isEmpty { tally.waiters.wrappingSubtract(waiters.count, ordering: .sequentiallyConsistent) }
        return waiters
    }

    /// Appends `tasks` to the queue and returns the workers to start for them.
    private func append(_ tasks: [any AnyThreadTask], to state: inout State) -> [Int] {
        for task in tasks { state.pending.append(task) }
        state.enqueued += tasks.count
        return claimIdleWorkers(&state)
    }

    /// Marks idle workers draining, one per queued task, and returns them.
    private func claimIdleWorkers(_ state: inout State) -> [Int] {
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

    private func startDrains(_ starting: [Int]) {
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
                    run(tasks, worker: index)
                }
            }
        }
    }

    /// Runs a batch. Each task is marked running only now, so one cancelled while it waited in the
    /// batch (by `cancel()` or `stop()`) never starts.
    private func run(_ tasks: [any AnyThreadTask], worker index: Int) -> Int {
        var executed = 0
        let counters = tally.workers[index]
        for task in tasks {
            if task.start(on: counters) {
                task.execute()
                counters.finished.wrappingAdd(1, ordering: .relaxed)
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
        let (dropped, waiters): ([any AnyThreadTask], [RoomWaiter]) = state.withLock { state in
            state.workers[index].isDraining = false
            if state.lifecycle == .running || state.lifecycle == .closed {
                state.lifecycle = .broken(message)
            }
            return (state.pending.removeAll(), failWaiters(&state))
        }
        for task in dropped { task.fail(PebbleError(.initializerFailed, message)) }
        for waiter in waiters { waiter.continuation.resume(throwing: PebbleError(.initializerFailed, message)) }
    }
}
