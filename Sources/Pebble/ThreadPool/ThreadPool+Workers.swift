// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import Synchronization
import _PebbleShim

extension ThreadPool {
    enum Lifecycle: Equatable {
        case running, closed, stopped, joined
        /// The initializer threw; the message says how.
        case broken(String)
    }

    /// One worker: a dedicated thread that pops batches of tasks and parks on its own condition
    /// variable when the queue is empty, identified by the id of its current incarnation.
    struct WorkerSlot {
        /// A thread serves this slot (started and not yet gone).
        var hasThread = false
        /// Its thread sleeps on its condition variable and nobody has woken it yet.
        var isParked = false
        /// `nil` until the current incarnation has started (and run the initializer). Kept when an
        /// idle thread exits, so that the next thread of the slot goes on as the same worker.
        var workerID: Int?
        var tasksDone = 0
        /// Whether the current incarnation has run the initializer.
        var initialized = false
        /// The batch the worker took last; `stop()` cancels those of them not started yet.
        var batch: [ThreadTask] = []
    }

    struct State {
        var lifecycle = Lifecycle.running
        var pending = FIFO<ThreadTask>()
        var workers: [WorkerSlot]
        /// How many workers are parked and not yet woken.
        var parked = 0
        /// How many slots have a thread.
        var threads = 0
        /// How many workers spin, waiting for a task without the lock (at most one).
        var spinning = 0
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
        let task: ThreadTask
        let continuation: CheckedContinuation<Void, any Error>
    }

    /// How many tasks a worker takes from the queue under one lock.
    static let batchSize = 16

    /// How long a worker thread with nothing to do waits before it exits (a later task starts a
    /// new one). Only a pool nobody closes or stops ever reaches it: `close()`, `stop()` and a
    /// failed initializer wake the parked threads, which exit at once when the queue is empty.
    static let idleExitNanoseconds: UInt64 = 10_000_000_000

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

    /// Enqueues `task`, or throws `.queueFull` (enqueuing nothing) when it does not fit: the
    /// path of `schedule`, without the array of ``enqueue(_:)-([ThreadTask])``.
    func enqueue(_ task: ThreadTask) throws {
        state.lock()
        do {
            try admissible(count: 1, state.value)
        } catch {
            state.unlock()
            task.armDeadline(accepted: false)
            throw error
        }
        state.value.pointee.pending.append(task)
        state.value.pointee.enqueued += 1
        let starting = wakeWorkers(&state.value.pointee)
        state.unlock()
        task.armDeadline(accepted: true)
        perform(starting)
    }

    /// Enqueues `tasks`, or throws `.queueFull` (enqueuing nothing) when they do not fit.
    func enqueue(_ tasks: [ThreadTask]) throws {
        let starting: Wakeups
        do {
            starting = try state.withLock { state in
                try admissible(count: tasks.count, &state)
                return append(tasks, to: &state)
            }
        } catch {
            for task in tasks { task.armDeadline(accepted: false) }
            throw error
        }
        for task in tasks { task.armDeadline(accepted: true) }
        perform(starting)
    }

    /// Throws what `schedule` or `map` must throw when `count` more tasks may not be queued now.
    private func admissible(count: Int, _ state: UnsafeMutablePointer<State>) throws {
        try admissible(count: count, &state.pointee)
    }

    private func admissible(count: Int, _ state: inout State) throws {
        try Self.checkAccepts(state.lifecycle)
        // Waiting `run` calls are ahead in line.
        guard configuration.maxPending == nil || (state.waiters.isEmpty && hasRoom(for: count, enqueued: state.enqueued)) else {
            throw PebbleError(.queueFull, "the pool's queue holds its maxPending of \(configuration.maxPending ?? 0) "
                              + "tasks; try again later, or use the async run, which waits for room")
        }
    }

    /// Enqueues `task`, first waiting in FIFO order for room under `maxPending`. A Task cancelled
    /// while it waits throws `CancellationError` and enqueues nothing.
    func enqueueWaitingForRoom(_ task: ThreadTask) async throws {
        guard configuration.maxPending != nil else { return try enqueue(task) }
        let id = state.withLock { state in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        do {
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    enum Admission { case admitted(Wakeups), waiting, refused(any Error) }
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
                        perform(starting)
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
        let (admitted, starting): ([RoomWaiter], Wakeups) = state.withLock { state in
            var admitted: [RoomWaiter] = []
            guard state.lifecycle == .running else { return ([], Wakeups()) }
            while hasRoom(for: 1, enqueued: state.enqueued), let id = state.waiterOrder.popFirst() {
                guard let waiter = state.waiters.removeValue(forKey: id) else { continue }
                tally.waiters.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                admitted.append(waiter)
                state.pending.append(waiter.task)
                state.enqueued += 1
            }
            return (admitted, admitted.isEmpty ? Wakeups() : wakeWorkers(&state))
        }
        perform(starting)
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

    /// Appends `tasks` to the queue and returns the workers whose threads to start for them.
    private func append(_ tasks: [ThreadTask], to state: inout State) -> Wakeups {
        for task in tasks { state.pending.append(task) }
        state.enqueued += tasks.count
        return wakeWorkers(&state)
    }

    /// What a change of the queue asks of the workers, decided under the lock and done outside
    /// it: parked workers to signal (signalled after the unlock, so that a woken worker does not
    /// at once block on the lock its waker still holds) and slots whose thread to start.
    struct Wakeups {
        /// Bit `i`: signal slot `i` (slots 0–63).
        var signal: UInt64 = 0
        /// Slots past 63 to signal, and slots whose thread to start (both rare: empty arrays do
        /// not allocate).
        var signalBeyond: [Int] = []
        var start: [Int] = []

        var isEmpty: Bool { signal == 0 && signalBeyond.isEmpty && start.isEmpty }
    }

    /// Finds a worker for each queued task: wakes parked workers first, then marks slots without a
    /// thread as starting one. Call ``perform(_:)`` with the result outside the lock.
    func wakeWorkers(_ state: inout State) -> Wakeups {
        var wakeups = Wakeups()
        // A spinning worker takes the queue's tasks without being woken, and wakes others for
        // what it leaves (see `runWorker`): the thread that schedules pays no wake-up then.
        var demand = state.spinning > 0 ? 0 : state.pending.count
        if state.spinning > 0 { spin.appended.store(state.enqueued, ordering: .releasing) }
        if state.parked > 0 {
            for index in state.workers.indices where demand > 0 && state.workers[index].isParked {
                state.workers[index].isParked = false
                state.parked -= 1
                if index < 64 { wakeups.signal |= 1 << UInt64(index) } else { wakeups.signalBeyond.append(index) }
                demand -= 1
            }
        }
        if demand > 0 && state.threads < state.workers.count {
            for index in state.workers.indices where demand > 0 && !state.workers[index].hasThread {
                state.workers[index].hasThread = true
                state.threads += 1
                // Entered under the lock so that `join` can never see an empty group while a
                // thread is about to start.
                activeDrains.enter()
                wakeups.start.append(index)
                demand -= 1
            }
        }
        return wakeups
    }

    /// Signals and starts the workers ``wakeWorkers(_:)`` chose.
    @inline(__always) func perform(_ wakeups: Wakeups) {
        guard !wakeups.isEmpty else { return }
        var bits = wakeups.signal
        while bits != 0 {
            state.signal(bits.trailingZeroBitCount)
            bits &= bits - 1
        }
        for index in wakeups.signalBeyond { state.signal(index) }
        for index in wakeups.start { startThread(slot: index) }
    }

    /// Wakes every parked worker (the pool closed, stopped or broke: they exit if the queue is
    /// empty). Signals under the lock: this is not on a hot path.
    func wakeAllParked(_ state: inout State) {
        guard state.parked > 0 else { return }
        for index in state.workers.indices where state.workers[index].isParked {
            state.workers[index].isParked = false
            self.state.signal(index)
        }
        state.parked = 0
    }

    private func startThread(slot index: Int) {
        let status = startDetachedThread { [self] in workerThread(slot: index) }
        if status != 0 {
            // No thread: run the same loop on a Dispatch thread rather than leave the tasks unserved.
            DispatchQueue.global().async { [self] in workerThread(slot: index) }
        }
    }

    /// The body of a worker thread: runs batches of tasks, parks while the queue is empty, and
    /// exits when the pool no longer needs it (closed or stopped with the queue empty, broken,
    /// `maxTasks` reached, or idle for ``idleExitNanoseconds``).
    func workerThread(slot index: Int) {
        pebble_set_thread_name("pebble.thread")
        state.lock()
        guard let workerID = awaitWork(slot: index) else { return exitThread(slot: index) }
        state.unlock()
        ThreadPool.$currentContext.withValue(WorkerContext(pool: ObjectIdentifier(self), workerID: workerID)) {
            runWorker(slot: index)
        }
    }

    /// With the lock held: waits until there is a task to run; assigns the slot's worker id (a new
    /// one for a new incarnation). `nil`: the thread must exit (the lock is still held).
    private func awaitWork(slot index: Int) -> Int? {
        let state = self.state.value
        var idleSince: MonotonicDeadline?
        while true {
            if case .broken = state.pointee.lifecycle { return nil }
            if !state.pointee.pending.isEmpty { break }
            if state.pointee.lifecycle != .running { return nil }
            let deadline = idleSince ?? MonotonicDeadline(after: Self.idleExitNanoseconds)
            idleSince = deadline
            if !park(slot: index, until: deadline) && state.pointee.pending.isEmpty { return nil }
        }
        if let workerID = state.pointee.workers[index].workerID { return workerID }
        let workerID = state.pointee.nextWorkerID
        state.pointee.nextWorkerID += 1
        state.pointee.workers[index].workerID = workerID
        state.pointee.workers[index].tasksDone = 0
        return workerID
    }

    /// With the lock held: parks the worker until woken or `deadline`; `false` when the deadline passed.
    private func park(slot index: Int, until deadline: MonotonicDeadline) -> Bool {
        let state = self.state.value
        state.pointee.workers[index].isParked = true
        state.pointee.parked += 1
        let woken = self.state.wait(index, until: deadline)
        if state.pointee.workers[index].isParked {
            // Not woken by the pool (a timeout, or a spurious wake-up): take itself off the count.
            state.pointee.workers[index].isParked = false
            state.pointee.parked -= 1
        }
        return woken
    }

    /// With the lock held: the slot's thread exits; releases the lock.
    private func exitThread(slot index: Int) {
        let state = self.state.value
        state.pointee.workers[index].hasThread = false
        state.pointee.threads -= 1
        // A replacement (after `maxTasks`) when tasks are still queued and the pool may run them.
        let replace = !state.pointee.pending.isEmpty && state.pointee.workers[index].workerID == nil
            && (state.pointee.lifecycle == .running || state.pointee.lifecycle == .closed)
        let starting = replace ? wakeWorkers(&state.pointee) : Wakeups()
        self.state.unlock()
        perform(starting)
        activeDrains.leave()
    }

    /// The worker's loop once it has its id: the initializer, then batches until it must exit.
    private func runWorker(slot index: Int) {
        if initializer != nil && !state.withLock({ $0.workers[index].initialized }) {
            do {
                try initializer?()
            } catch {
                breakPool(worker: index, error: error)
                state.lock()
                return exitThread(slot: index)
            }
            state.withLock { $0.workers[index].initialized = true }
        }
        let counters = tally.workers[index]
        var spinner = Spinner()
        var batch: [ThreadTask] = []
        batch.reserveCapacity(Self.batchSize)
        let state = self.state.value
        self.state.lock()
        while true {
            // The tasks of the last batch are done (or were stolen, or cancelled).
            state.pointee.workers[index].batch = []
            batch.removeAll(keepingCapacity: true)
            if maxTasks > 0 && state.pointee.workers[index].tasksDone >= maxTasks {
                state.pointee.workers[index].workerID = nil
                state.pointee.workers[index].initialized = false
                return exitThread(slot: index)
            }
            if state.pointee.pending.isEmpty && !steal(into: &batch, slot: index) {
                var idleSince: MonotonicDeadline?
                while state.pointee.pending.isEmpty {
                    if state.pointee.lifecycle != .running { return exitThread(slot: index) }
                    if state.pointee.spinning == 0, spinner.budget > 0, !spinner.machineIsBusy() {
                        if spinForWork(&spinner, seen: state.pointee.enqueued) { continue }
                        // The lock was released while it spun: `close()` or `stop()` may have come.
                        if state.pointee.lifecycle != .running { return exitThread(slot: index) }
                    }
                    let deadline = idleSince ?? MonotonicDeadline(after: Self.idleExitNanoseconds)
                    idleSince = deadline
                    let parkedAt = spinner.now()
                    if !park(slot: index, until: deadline) && state.pointee.pending.isEmpty {
                        return exitThread(slot: index)
                    }
                    spinner.parked(for: spinner.now() &- parkedAt)
                }
            }
            if case .broken = state.pointee.lifecycle { return exitThread(slot: index) }
            if batch.isEmpty { pop(into: &batch, slot: index) }
            state.pointee.workers[index].batch = batch
            // Tasks left behind while workers sleep (they came while this one spun): wake them.
            let wakeups = state.pointee.parked > 0 && !state.pointee.pending.isEmpty ? wakeWorkers(&state.pointee) : Wakeups()
            self.state.unlock()
            perform(wakeups)
            // Each task is marked running only now, so one cancelled while it waited in the
            // batch (by `cancel()` or `stop()`) never starts.
            var executed = 0
            for task in batch where task.start(on: counters) {
                task.execute()
                executed += 1
            }
            // Only this worker writes its `finished`: a store, not a read-modify-write.
            if executed > 0 {
                counters.finished.store(counters.finished.load(ordering: .relaxed) &+ executed, ordering: .relaxed)
            }
            self.state.lock()
            state.pointee.workers[index].tasksDone += executed
        }
    }

    /// With the lock held and the queue empty: releases the lock and spins for up to the worker's
    /// budget, watching for a task appended after `seen`, then takes the lock again. Returns
    /// whether one came. Only one worker spins at a time.
    private func spinForWork(_ spinner: inout Spinner, seen: Int) -> Bool {
        let state = self.state.value
        state.pointee.spinning += 1
        spin.appended.store(seen, ordering: .relaxed)
        self.state.unlock()
        var last = spinner.now()
        let end = last &+ spinner.budget
        var arrived = false
        var preempted = false
        outer: while true {
            for _ in 0..<256 where spin.appended.load(ordering: .acquiring) != seen {
                arrived = true
                break outer
            }
            let now = spinner.now()
            // A gap between two looks means the thread lost its CPU: the machine is busy, and
            // spinning takes a core from someone (perhaps the thread that would feed us).
            if now &- last > Spinner.preemptionGap { preempted = true; break }
            if now >= end { break }
            last = now
        }
        self.state.lock()
        state.pointee.spinning -= 1
        // A task appended between the last look and the lock counts too (nobody woke anyone for it).
        let found = arrived || !state.pointee.pending.isEmpty
        spinner.spun(successfully: found, preempted: preempted)
        return found
    }

    /// Takes the next tasks: one at a time, or a batch when the queue is deep enough that every
    /// worker is busy anyway (no more than the worker may still run before `maxTasks` replaces it).
    private func pop(into batch: inout [ThreadTask], slot index: Int) {
        let state = self.state.value
        let budget = maxTasks > 0 ? maxTasks - state.pointee.workers[index].tasksDone : Self.batchSize
        let deep = state.pointee.pending.count / maxWorkers
        let size = max(1, min(budget, Self.batchSize, deep))
        while batch.count < size, let task = state.pointee.pending.popFirst() {
            batch.append(task)
        }
    }

    /// The queue is empty: before going idle, take half of the tasks another worker holds in its
    /// batch and has not started (it may be stuck on a long one). A task goes to whichever worker
    /// marks it running first, so the two never both run it.
    private func steal(into batch: inout [ThreadTask], slot index: Int) -> Bool {
        let state = self.state.value
        for other in state.pointee.workers.indices where other != index && state.pointee.workers[other].batch.count > 1 {
            let waiting = state.pointee.workers[other].batch.filter(\.isPending)
            guard !waiting.isEmpty else { continue }
            batch.append(contentsOf: waiting.suffix(max(1, waiting.count / 2)))
            return true
        }
        return false
    }

    /// How long a worker spins before it parks, adapted to what spinning gained: a spin that saw a
    /// task come doubles the budget (up to ``maximum``), one that did not halves it, down to
    /// nothing; a park that a task ended soon after it began (within ``shortPark``) restores
    /// ``minimum``. A worker whose thread the kernel preempted since it last looked (counted by
    /// `getrusage(RUSAGE_THREAD)`: more threads want to run than there are CPUs), or that lost its
    /// CPU in the middle of a spin, does not spin for ``cooldownParks`` parks: on a busy machine a
    /// spin takes a core from another thread, perhaps from the one that would feed it (measured:
    /// with two CPU hogs on two cores, spinning made the round trip 16–55 µs instead of 8). A pool
    /// fed in a steady stream (or one round trip after another) thus keeps a worker awake between
    /// tasks, while an idle pool, or a busy machine, spins next to never: at most ``maximum`` per
    /// wait, never two workers at once.
    struct Spinner {
        static let minimum: UInt64 = 2_000
        static let maximum: UInt64 = 20_000
        static let shortPark: UInt64 = 200_000
        /// Two looks this far apart mean the spinning thread was descheduled.
        static let preemptionGap: UInt64 = 30_000
        /// After a spin that was descheduled, this many parks without spinning at all.
        static let cooldownParks = 256
        var cooldown = 0
        static let preemptionCheckInterval = 8
        /// `RUSAGE_THREAD` (Linux), which the C headers define only with `_GNU_SOURCE`.
        static let rusageThread: Int32 = 1
        var checkCountdown = 0
        var lastPreemptions = Int.max
        /// Nanoseconds to spin next time.
        var budget: UInt64 = Self.minimum

        @inline(__always) func now() -> UInt64 {
            var time = timespec()
            clock_gettime(CLOCK_MONOTONIC, &time)
            return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
        }

        mutating func spun(successfully: Bool, preempted: Bool) {
            if preempted {
                budget = 0
                cooldown = Self.cooldownParks
            } else if successfully {
                budget = min(Self.maximum, budget * 2)
            } else {
                budget = budget / 2 < Self.minimum / 2 ? 0 : budget / 2
            }
        }

        /// How many times the kernel took this thread's CPU away (involuntary context switches).
        static func preemptions() -> Int {
            var usage = rusage()
            getrusage(Self.rusageThread, &usage)
            return usage.ru_nivcsw
        }

        /// Whether the thread was preempted since the last look: then more threads want to run
        /// than there are CPUs, and a spin would take one from them. Looked at once every
        /// ``preemptionCheckInterval`` spins (a system call); a preempted thread stops spinning
        /// for ``cooldownParks`` parks.
        mutating func machineIsBusy() -> Bool {
            checkCountdown -= 1
            guard checkCountdown <= 0 else { return false }
            checkCountdown = Self.preemptionCheckInterval
            let now = Self.preemptions()
            defer { lastPreemptions = now }
            guard now > lastPreemptions else { return false }
            budget = 0
            cooldown = Self.cooldownParks
            return true
        }

        mutating func parked(for nanoseconds: UInt64) {
            if cooldown > 0 { cooldown -= 1; return }
            if nanoseconds < Self.shortPark && budget < Self.minimum { budget = Self.minimum }
        }
    }

    /// What a spinning worker watches: the pool's count of tasks ever queued, published when a
    /// worker spins.
    final class SpinSignal: Sendable {
        let appended = Atomic<Int>(0)
        private let padding: (Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0)
    }

    func breakPool(worker index: Int, error: any Error) {
        let message = "the thread pool's initializer threw: \(error)"
        let (dropped, waiters): ([ThreadTask], [RoomWaiter]) = state.withLock { state in
            if state.lifecycle == .running || state.lifecycle == .closed {
                state.lifecycle = .broken(message)
            }
            wakeAllParked(&state)
            return (state.pending.removeAll(), failWaiters(&state))
        }
        for task in dropped { task.fail(PebbleError(.initializerFailed, message)) }
        for waiter in waiters { waiter.continuation.resume(throwing: PebbleError(.initializerFailed, message)) }
    }
}
