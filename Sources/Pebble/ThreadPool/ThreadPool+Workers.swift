import Dispatch
import Synchronization

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ThreadPool {
    typealias Machine = ThreadPoolStateMachine<ThreadTask, CheckedContinuation<Void, any Error>>
    typealias Lifecycle = Machine.Lifecycle

    /// What the pool's lock guards: the decisions, and each slot's serial queue (replaced when its
    /// worker is retired after `maxTasks`).
    struct State {
        var machine: Machine
        var queues: [DispatchQueue]
        /// Schedule → start, and start → the closure's return, of every task that started
        /// (see ``Latencies``).
        var waitTimes = LatencyHistogram()
        var runTimes = LatencyHistogram()
    }

    /// Drains to dispatch once the lock is released: the slots ``Machine/DrainStarts`` names,
    /// with their queues read under the lock (the first without an array).
    struct Dispatches {
        var first: (slot: Int, queue: DispatchQueue)?
        var more: [(slot: Int, queue: DispatchQueue)] = []
    }

    /// How many tasks a drain takes from the queue under one lock.
    static let batchSize = 16

    /// A worker's serial queue. It has no target of its own: a serial queue then runs on
    /// Dispatch's *overcommit* root queue, which gives a work item a thread of its own whenever
    /// every thread it has is busy. A closure that blocks thus holds one thread of its own and
    /// never one of the width-limited root queue behind `DispatchQueue.global()` and Swift's
    /// cooperative executor; the pool's permits keep such threads to `maxWorkers`.
    static func makeWorkerQueue() -> DispatchQueue {
        DispatchQueue(label: "pebble.thread-pool.worker")
    }

    /// The pool and worker whose drain runs on the calling thread, in two thread-specific slots
    /// (set for the length of a drain; no allocation, unlike a task-local value). A `Task`
    /// started from a pool closure runs elsewhere and sees neither.
    enum WorkerContext {
        static let poolKey = makeKey()
        static let workerKey = makeKey()

        static func makeKey() -> pthread_key_t {
            var key = pthread_key_t()
            pthread_key_create(&key, nil)
            return key
        }

        /// Runs `body` with the calling thread marked as `pool`'s worker `workerID`.
        @inline(__always) static func with<R>(pool: ThreadPool, workerID: Int, _ body: () -> R) -> R {
            let previousPool = pthread_getspecific(poolKey)
            let previousWorker = pthread_getspecific(workerKey)
            pthread_setspecific(poolKey, Unmanaged.passUnretained(pool).toOpaque())
            pthread_setspecific(workerKey, UnsafeRawPointer(bitPattern: workerID))
            defer {
                pthread_setspecific(poolKey, previousPool)
                pthread_setspecific(workerKey, previousWorker)
            }
            return body()
        }
    }

    /// The pool whose task runs on the calling thread (compared by address, never dereferenced).
    static var currentPool: UnsafeMutableRawPointer? { pthread_getspecific(WorkerContext.poolKey) }

    /// Whether the calling thread runs one of this pool's tasks.
    var isCurrentPool: Bool { Self.currentPool == Unmanaged.passUnretained(self).toOpaque() }

    /// The id of the thread-pool worker running the current task, `nil` outside a pool task.
    /// A worker replaced after `maxTasks` tasks gets a new id.
    ///
    /// ```swift
    /// let future = try pool.schedule { ThreadPool.currentWorkerID }
    /// ```
    public static var currentWorkerID: Int? {
        pthread_getspecific(WorkerContext.workerKey).map { Int(bitPattern: $0) }
    }

    /// The tasks that left the queue (started, or completed while queued), for `maxPending`;
    /// 0 when the queue is unbounded (the machine does not look).
    @inline(__always) func startedForRoom() -> Int {
        isBounded ? tally.started() : 0
    }

    /// Enqueues `task`, or throws (enqueuing nothing): the path of `schedule`, without the array
    /// of ``enqueue(_:)-([ThreadTask])``.
    @usableFromInline func enqueue(_ task: ThreadTask) throws {
        state.lock()
        let state = self.state.value
        let starts: Machine.DrainStarts
        do {
            starts = try state.pointee.machine.enqueue(task, started: startedForRoom())
        } catch {
            self.state.unlock()
            task.armDeadline(accepted: false)
            throw error
        }
        publishIfSpinning(state)
        let dispatches = starts.isEmpty ? nil : claim(starts, state)
        self.state.unlock()
        task.armDeadline(accepted: true)
        if let dispatches {
            // No drain was awake to take it: it waits for a thread to be woken.
            task.markSlowStart()
            dispatch(dispatches)
        }
    }

    /// Enqueues `tasks`, or throws (enqueuing nothing).
    func enqueue(_ tasks: [ThreadTask]) throws {
        let outcome: Result<Dispatches?, PebbleError> = state.withLock { state in
            Result { () throws(PebbleError) in try state.machine.enqueue(contentsOf: tasks, started: startedForRoom()) }.map { starts in
                withUnsafeMutablePointer(to: &state) { state in
                    publishIfSpinning(state)
                    return starts.isEmpty ? nil : claim(starts, state)
                }
            }
        }
        switch outcome {
        case .failure(let error):
            for task in tasks { task.armDeadline(accepted: false) }
            throw error
        case .success(let dispatches):
            for task in tasks { task.armDeadline(accepted: true) }
            if let dispatches { dispatch(dispatches) }
        }
    }

    /// With the lock held, after tasks were queued: tells a spinning drain (if any) that they came.
    @inline(__always) private func publishIfSpinning(_ state: UnsafeMutablePointer<State>) {
        if state.pointee.machine.spinning > 0 { spin.appended.store(state.pointee.machine.enqueued, ordering: .releasing) }
    }

    /// With the lock held: enters `activeDrains` for each drain decided (so that `join` never
    /// sees an empty group while one is about to start) and reads the queues to dispatch on.
    private func claim(_ starts: Machine.DrainStarts, _ state: UnsafeMutablePointer<State>) -> Dispatches {
        activeDrains.enter()
        var dispatches = Dispatches(first: (starts.first, state.pointee.queues[starts.first]))
        for slot in starts.more {
            activeDrains.enter()
            dispatches.more.append((slot, state.pointee.queues[slot]))
        }
        return dispatches
    }

    /// Dispatches the drains ``claim(_:_:)`` read, outside the lock.
    private func dispatch(_ dispatches: Dispatches) {
        if let (slot, queue) = dispatches.first { queue.async { [self] in drain(slot: slot) } }
        for (slot, queue) in dispatches.more { queue.async { [self] in drain(slot: slot) } }
    }

    /// Enqueues `task`, first waiting in FIFO order for room under `maxPending`. A Task cancelled
    /// while it waits throws `CancellationError` and enqueues nothing.
    @usableFromInline func enqueueWaitingForRoom(_ task: ThreadTask) async throws {
        guard configuration.maxPending != nil else { return try enqueue(task) }
        let id = state.withLock { $0.machine.reserveWaiterID() }
        do {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    state.lock()
                    let state = self.state.value
                    // Announced before the room is read, so that a task leaving the queue at the
                    // same moment either makes room that we see or sees us waiting. Cancellation
                    // sets the flag before running the handler below, so either this sees it or
                    // the handler finds the waiter.
                    tally.waiters.wrappingAdd(1, ordering: .sequentiallyConsistent)
                    let admission = state.pointee.machine.waitForRoom(
                        id: id, task: task, waiter: continuation, isCancelled: Task.isCancelled, started: tally.started())
                    var dispatches: Dispatches?
                    switch admission {
                    case .waiting: break
                    case .admitted(let starts):
                        tally.waiters.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                        publishIfSpinning(state)
                        if !starts.isEmpty { dispatches = claim(starts, state) }
                    case .refused:
                        tally.waiters.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                    }
                    self.state.unlock()
                    switch admission {
                    case .admitted:
                        if let dispatches { dispatch(dispatches) }
                        continuation.resume()
                    case .waiting:
                        roomWaiterAdded.withLock { $0 }?()
                    case .refused(let error):
                        continuation.resume(throwing: error)
                    }
                }
            } onCancel: {
                let waiter: CheckedContinuation<Void, any Error>? = state.withLock { state in
                    guard let waiter = state.machine.cancelWaiter(id: id) else { return nil }
                    tally.waiters.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                    return waiter
                }
                waiter?.resume(throwing: CancellationError())
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
        guard tally.waiters.load(ordering: .sequentiallyConsistent) > 0 else { return }
        state.lock()
        let state = self.state.value
        let (admitted, starts) = state.pointee.machine.admitWaiters(started: tally.started())
        if !admitted.isEmpty {
            tally.waiters.wrappingSubtract(admitted.count, ordering: .sequentiallyConsistent)
            publishIfSpinning(state)
        }
        let dispatches = starts.isEmpty ? nil : claim(starts, state)
        self.state.unlock()
        if let dispatches { dispatch(dispatches) }
        for waiter in admitted { waiter.resume() }
    }

    /// Takes every waiting `run` call's continuation off the count (the pool closed, stopped or broke).
    func forget(_ waiters: [CheckedContinuation<Void, any Error>]) {
        if !waiters.isEmpty { tally.waiters.wrappingSubtract(waiters.count, ordering: .sequentiallyConsistent) }
    }

    /// A drain: the work item a slot's queue runs while the slot holds a permit. It asks the
    /// machine for batches and runs them (the initializer first, for a new worker) until the
    /// machine says the slot goes idle or its worker retires.
    func drain(slot index: Int) {
        let spinner = spinners.base + index
        spinner.pointee.parked(for: monotonicNanoseconds() &- spinner.pointee.idleSince)
        let step = nextStep(slot: index, executed: 0, canSpin: false)
        switch step {
        case .initialize(let workerID), .run(_, let workerID):
            WorkerContext.with(pool: self, workerID: workerID) {
                runWorker(slot: index, first: step)
            }
        case .idle, .retire:
            finish(step, slot: index)
        case .spin:
            preconditionFailure("a drain was told to spin on its first question")
        }
    }

    /// Asks the machine for the next step, under the lock (a retired worker's queue is replaced
    /// there, and a spinning drain's starting point published).
    private func nextStep(slot index: Int, executed: Int, canSpin: Bool) -> Machine.DrainStep {
        state.lock()
        let state = self.state.value
        latencies.move(index, into: state)
        let step = state.pointee.machine.nextStep(slot: index, executed: executed, canSpin: canSpin, isPending: \.isPending)
        switch step {
        case .retire(let restart):
            state.pointee.queues[index] = Self.makeWorkerQueue()
            spinners.base[index].idleSince = monotonicNanoseconds()
            if !restart && idleTimer != nil { armIdleTimer(slot: index, state) }
        case .idle:
            // Under the lock: once it is released, the slot's next drain may start and read it.
            spinners.base[index].idleSince = monotonicNanoseconds()
            if idleTimer != nil { armIdleTimer(slot: index, state) }
        case .spin(let seen): spin.appended.store(seen, ordering: .relaxed)
        case .initialize, .run: break
        }
        self.state.unlock()
        return step
    }

    /// With the lock held, after the drain of `slot` ended (with `idleTimeout`): its worker's idle
    /// time starts, and the idle timer is armed if the machine says so. Armed under the lock, so
    /// that two drains ending at once arm it in the machine's order.
    private func armIdleTimer(slot index: Int, _ state: UnsafeMutablePointer<State>) {
        let now = ContinuousClock.now
        if let deadline = state.pointee.machine.wentIdle(slot: index, now: now), let idleTimer {
            idleTimer.timer.schedule(deadline: (deadline - now).deadlineFromNow)
        }
    }

    /// The idle timer fired: the workers idle for `idleTimeout` end (above `minWorkers`), and the
    /// timer is armed again for the next idle worker that may end.
    func idleTimerFired() {
        let (ended, next) = state.withLock { state in
            let now = ContinuousClock.now
            let decision = state.machine.idleTimerFired(now: now)
            if let next = decision.next, let idleTimer {
                idleTimer.timer.schedule(deadline: (next - now).deadlineFromNow)
            }
            return decision
        }
        idleWorkersEnded.withLock { $0 }?(ended, next != nil)
    }

    /// The drain of a worker that has its id: the initializer if asked, then batches, until the
    /// slot goes idle or the worker retires.
    private func runWorker(slot index: Int, first: Machine.DrainStep) {
        let counters = tally.workers[index]
        let spinner = spinners.base + index
        var last: (ThreadTask, FutureCore.Settled)?
        /// The least a spin lasts (nanoseconds), set when the last task's waiter must be woken.
        var catchUp: UInt64 = 0
        var step = first
        while true {
            switch step {
            case .initialize:
                do {
                    try initializer?()
                } catch {
                    if let (task, settled) = last { task.finish(settled) }
                    return breakPool(slot: index, error: error)
                }
                state.withLock { $0.machine.initialized(slot: index) }
                step = nextStep(slot: index, executed: 0, canSpin: false)
            case .spin(let seen):
                spinForWork(&spinner.pointee, seen: seen, atLeast: catchUp)
                catchUp = 0
                step = nextStep(slot: index, executed: 0, canSpin: false)
            case .run(let batch, _):
                // The drain lets go of the batch before it asks again: the machine refills the
                // same array in place.
                step = .idle
                // Each task is marked running only now, so one cancelled while it waited in the
                // batch (by `cancel()` or `stop()`) or stolen by another drain never starts here.
                var executed = 0
                // One clock reading per task: the end of one task is the start of the next (the
                // drain turns to it at once), so a task's wait runs until the worker turned to it,
                // behind the tasks before it in the batch.
                var turnedTo = monotonicNanoseconds()
                for task in batch where task.start(on: counters) {
                    // The last completion's second half (waking its waiter, running its
                    // observers) waits until the drain has asked for its next step: when the
                    // drain ends, waking the waiter is the last thing it does, so the waiter's
                    // next task finds the thread free instead of Dispatch waking another.
                    if let (task, settled) = last { task.finish(settled) }
                    last = task.execute().map { (task, $0) }
                    let done = monotonicNanoseconds()
                    if latencies.isFull(index) { state.withLock { latencies.move(index, into: &$0) } }
                    latencies.append(
                        index, wait: turnedTo > task.scheduledAt ? turnedTo &- task.scheduledAt : 0,
                        run: done &- turnedTo)
                    turnedTo = done
                    executed += 1
                }
                // Only this slot's drain writes its `finished`: a store, not a read-modify-write.
                if executed > 0 {
                    counters.finished.store(counters.finished.load(ordering: .relaxed) &+ executed, ordering: .relaxed)
                }
                // A waiter that sleeps (or a Task that suspended) needs a wake-up before it can
                // send its next task: the drain then spins long enough to catch that task, which
                // is how a round trip after round trip comes to find the drain awake.
                let waiterSleeps =
                    last.map { $0.1.wakeSleepers || !$0.1.observers.isEmpty } ?? false
                    && spinner.pointee.mayCatchUp()
                catchUp = waiterSleeps ? Spinner.catchUp : 0
                let canSpin = spinner.pointee.budget > 0 || waiterSleeps
                step = nextStep(slot: index, executed: executed, canSpin: canSpin)
                if case .spin = step, let (task, settled) = last {
                    // Its waiter is the likeliest source of the task the drain now spins for.
                    task.finish(settled)
                    last = nil
                }
            case .idle, .retire:
                if let (task, settled) = last { task.finish(settled) }
                return finish(step, slot: index)
            }
        }
    }

    /// Spins for up to the slot's budget (at least `minimum`), outside the lock, watching for a
    /// task appended after the `seen`-th; the drain then asks the machine again (which decides, under the lock,
    /// whether there is one).
    private func spinForWork(_ spinner: inout Spinner, seen: Int, atLeast minimum: UInt64) {
        // Yielding between looks gives the CPU to the thread that would feed us, if it waits for
        // it (the kernel tends to run a waiter and its worker on the same CPU); a spin that lost
        // its CPU means the machine is busy, and spinning takes a core from someone.
        let (arrived, preempted) = SpinWatch.watch(for: max(spinner.budget, minimum), looksPerYield: 256) {
            spin.appended.load(ordering: .acquiring) != seen
        }
        spinner.watched(arrived: arrived, preempted: preempted, catchUp: minimum)
    }

    /// The drain ends: its permit is free (idle), or passes to a drain on the slot's fresh queue
    /// (a retired worker with tasks still queued).
    private func finish(_ step: Machine.DrainStep, slot index: Int) {
        if case .retire(restart: true) = step {
            let queue = state.withLock { $0.queues[index] }
            queue.async { [self] in drain(slot: index) }
        } else {
            activeDrains.leave()
        }
    }

    /// The initializer threw in the worker of `slot`: the pool breaks, its queued tasks and
    /// waiting `run` calls fail with `.initializerFailed`; the drain ends.
    private func breakPool(slot index: Int, error: any Error) {
        let message = "the thread pool's initializer threw: \(error)"
        let (dropped, waiters) = state.withLock { state in
            let failed = state.machine.initializerFailed(slot: index, message: message)
            forget(failed.waiters)
            return failed
        }
        activeDrains.leave()
        for task in dropped { task.fail(PebbleError(.initializerFailed, message)) }
        for waiter in waiters { waiter.resume(throwing: PebbleError(.initializerFailed, message)) }
    }
}
