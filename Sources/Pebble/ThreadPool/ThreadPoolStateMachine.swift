// SPDX-License-Identifier: Apache-2.0

/// The decisions of a ``ThreadPool``, without threads or queues: its lifecycle, its queue of
/// tasks, its worker slots and the permits that bound them, the async `run` calls waiting for
/// room, and what a deadline means for a task about to start.
///
/// The pool holds it under its lock, feeds it events (a task scheduled, a drain asking for its
/// next batch, `close()`, …) and performs what comes back once the lock is released: start a
/// drain on a slot's queue, resume a waiter, cancel the dropped tasks.
///
/// **Workers and permits.** A slot is one worker: a serial Dispatch queue on which a *drain*
/// (one work item) takes batches of tasks from the shared queue until it is empty. A drain holds
/// one of the `maxWorkers` permits from the moment it is decided until it goes idle: the count of
/// permits taken is the pool's semaphore, counted here rather than waited on, so the scheduling
/// thread never blocks on it. A task scheduled while every permit is taken simply waits in the
/// queue for a running drain.
///
/// **Idle workers.** With `idleTimeout`, a worker (a slot's id and initializer state) whose slot
/// has had no drain for that long ends, never below `minWorkers`: its slot's next drain starts a
/// new worker (new id, the initializer again), as a retirement after `maxTasks` does. One timer
/// for the pool, armed when a worker goes idle and none is armed.
///
/// Generic over the task and the waiter so that tests can drive it with plain values; the pool
/// uses it with its `ThreadTask` and its continuations (specialised inside the module).
struct ThreadPoolStateMachine<Task, Waiter> {
    enum Lifecycle: Equatable {
        case running, closed, stopped, joined
        /// The initializer threw; the message says how.
        case broken(String)
    }

    /// One worker slot.
    struct Slot {
        /// A drain holds the slot's permit: dispatched, or running.
        var draining = false
        /// The current worker's id; `nil` until a drain starts a new worker (the next drain then
        /// runs the initializer and takes a new id).
        var workerID: Int?
        /// Whether the current worker has run the initializer.
        var initialized = false
        var tasksDone = 0
        /// Bumped when the worker is retired after `maxTasks`: its queue is replaced.
        var generation = 0
        /// Its drain was dispatched and has not asked for work yet.
        var isStarting = false
        /// Its drain spins, watching for a task, outside the lock.
        var isSpinning = false
        /// The tasks the drain took last; `stop()` cancels those not started yet and an idle
        /// drain may steal from them.
        var batch: [Task] = []
        /// When its drain last ended (with `idleTimeout` only): its worker ends once idle that long.
        var idleSince: ContinuousClock.Instant?
    }

    /// Drains to dispatch, one per slot listed (the first without an array: most decisions start
    /// none or one).
    struct DrainStarts: Equatable {
        var first = -1
        var more: [Int] = []

        var isEmpty: Bool { first < 0 }
        var count: Int { first < 0 ? 0 : 1 + more.count }

        mutating func append(_ slot: Int) {
            if first < 0 { first = slot } else { more.append(slot) }
        }

        /// The slots, in order.
        var slots: [Int] { first < 0 ? [] : [first] + more }
    }

    /// What a drain does next.
    enum DrainStep {
        /// Run the initializer for the new worker `workerID`, then report ``initialized(slot:)``
        /// or ``initializerFailed(slot:message:)``.
        case initialize(workerID: Int)
        /// Run these tasks (each marked running only as it starts), then ask again.
        case run([Task], workerID: Int)
        /// The queue is empty: spin (outside the lock, keeping the permit) until a task is
        /// appended after the `seen`-th or the spin budget is spent, then ask again.
        case spin(seen: Int)
        /// Nothing to do: the drain ends and its permit is free again.
        case idle
        /// The worker ran `maxTasks` tasks: the drain ends, the slot gets a fresh queue, and when
        /// `restart` a drain starts on it at once (keeping the permit) for the tasks still queued.
        case retire(restart: Bool)
    }

    /// Whether a task about to start runs.
    enum StartDecision: Equatable {
        case run
        /// Its deadline passed while it was queued: it fails with `TimeoutError` and never runs.
        case pastDeadline
    }

    let maxWorkers: Int
    let maxTasks: Int
    let maxPending: Int?
    let hasInitializer: Bool
    /// Most tasks a drain takes from the queue under one lock.
    let batchSize: Int
    /// Idle workers never end below this many.
    let minWorkers: Int
    /// How long a worker stays idle before it ends; `nil`: workers are kept.
    let idleTimeout: Duration?
    /// When the pool's idle timer fires, if it is armed (one timer for every slot: slots go idle
    /// in time order, so the earliest deadline is always the one armed).
    private(set) var idleTimerDeadline: ContinuousClock.Instant?

    private(set) var lifecycle = Lifecycle.running
    private(set) var pending = FIFO<Task>()
    private(set) var slots: [Slot]
    /// Slots without a drain, as a stack (the most recently idle on top: its queue's thread is
    /// the likeliest to be warm).
    private var idleSlots: [Int]
    /// Permits taken: slots with a drain. Never above `maxWorkers`.
    private(set) var active = 0
    /// Drains dispatched that have not asked for work yet: each will take at least one task.
    private(set) var starting = 0
    /// Drains spinning for a task (at most one): it takes the next task without being started.
    private(set) var spinning = 0
    /// Tasks ever appended to the queue (the statistics subtract those that left it).
    private(set) var enqueued = 0
    private var nextWorkerID = 1
    /// Async `run` calls waiting for room under `maxPending`, by id; `waiterOrder` is their FIFO
    /// (ids of cancelled waiters are skipped when they come up).
    private(set) var waiters: [Int: (task: Task, waiter: Waiter)] = [:]
    private var waiterOrder = FIFO<Int>()
    private var nextWaiterID = 0

    init(
        maxWorkers: Int, maxTasks: Int = 0, maxPending: Int? = nil, hasInitializer: Bool = false, batchSize: Int = 16,
        minWorkers: Int = 0, idleTimeout: Duration? = nil
    ) {
        precondition(maxWorkers >= 1 && maxTasks >= 0 && batchSize >= 1 && (0...maxWorkers).contains(minWorkers))
        self.minWorkers = minWorkers
        self.idleTimeout = idleTimeout
        self.maxWorkers = maxWorkers
        self.maxTasks = maxTasks
        self.maxPending = maxPending
        self.hasInitializer = hasInitializer
        self.batchSize = batchSize
        slots = Array(repeating: Slot(), count: maxWorkers)
        idleSlots = Array((0..<maxWorkers).reversed())
    }

    // MARK: - Scheduling

    /// What `schedule` must throw when the pool takes no work now, or `nil`.
    func refusal(count: Int, started: Int) -> PebbleError? {
        switch lifecycle {
        case .running: break
        case .broken(let message): return PebbleError(.initializerFailed, message)
        case .closed, .stopped, .joined:
            return PebbleError.poolNotRunning
        }
        // Waiting `run` calls are ahead in line.
        if let maxPending, !waiters.isEmpty || !hasRoom(for: count, started: started) {
            return PebbleError(
                .queueFull,
                "the pool's queue holds its maxPending of \(maxPending) "
                    + "tasks; try again later, or use the async run, which waits for room")
        }
        return nil
    }

    /// Tasks queued and not started: those ever queued less `started` (the pool's count of
    /// tasks that left the queue: started, or completed while queued).
    func pendingCount(started: Int) -> Int { enqueued - started }

    /// Whether `count` more tasks fit under `maxPending`.
    func hasRoom(for count: Int, started: Int) -> Bool {
        guard let maxPending else { return true }
        return pendingCount(started: started) + count <= maxPending
    }

    /// A task scheduled: queued, with the drains to start for it, or refused (nothing queued).
    /// `started` matters only with `maxPending` (see ``pendingCount(started:)``).
    mutating func enqueue(_ task: Task, started: Int = 0) throws(PebbleError) -> DrainStarts {
        if lifecycle != .running || maxPending != nil, let refusal = refusal(count: 1, started: started) { throw refusal }
        pending.append(task)
        enqueued += 1
        return drainsToStart()
    }

    /// Tasks scheduled together (a `map`): all queued, or none.
    mutating func enqueue(contentsOf tasks: [Task], started: Int = 0) throws(PebbleError) -> DrainStarts {
        if let refusal = refusal(count: tasks.count, started: started) { throw refusal }
        for task in tasks { pending.append(task) }
        enqueued += tasks.count
        return drainsToStart()
    }

    /// Takes permits for the queued tasks that no drain will take: one drain per task beyond
    /// those that drains about to start will take, as long as permits are left.
    private mutating func drainsToStart() -> DrainStarts {
        var starts = DrainStarts()
        while active < maxWorkers && pending.count > starting + spinning, let slot = idleSlots.popLast() {
            slots[slot].draining = true
            slots[slot].isStarting = true
            active += 1
            starting += 1
            starts.append(slot)
        }
        return starts
    }

    // MARK: - Waiting for room (async run)

    /// An id for a `run` that may wait for room, taken before it may be cancelled.
    mutating func reserveWaiterID() -> Int {
        defer { nextWaiterID += 1 }
        return nextWaiterID
    }

    enum Admission {
        case admitted(DrainStarts)
        case waiting
        case refused(any Error)
    }

    /// An async `run` asks for room for `task`: admitted at once (queued), waiting behind the
    /// earlier waiters, or refused (the pool takes no work, or the awaiting Task is cancelled).
    mutating func waitForRoom(id: Int, task: Task, waiter: Waiter, isCancelled: Bool, started: Int) -> Admission {
        switch lifecycle {
        case .running: break
        case .broken(let message): return .refused(PebbleError(.initializerFailed, message))
        case .closed, .stopped, .joined:
            return .refused(PebbleError.poolNotRunning)
        }
        if isCancelled { return .refused(CancellationError()) }
        if waiters.isEmpty && hasRoom(for: 1, started: started) {
            pending.append(task)
            enqueued += 1
            return .admitted(drainsToStart())
        }
        waiters[id] = (task, waiter)
        waiterOrder.append(id)
        return .waiting
    }

    /// The Task of waiter `id` was cancelled: its waiter, if it still waits.
    mutating func cancelWaiter(id: Int) -> Waiter? {
        waiters.removeValue(forKey: id)?.waiter
    }

    /// A task left the queue: admits waiting `run` calls, oldest first, while there is room.
    mutating func admitWaiters(started: Int) -> (admitted: [Waiter], starts: DrainStarts) {
        guard lifecycle == .running else { return ([], DrainStarts()) }
        var admitted: [Waiter] = []
        while hasRoom(for: 1, started: started), let id = waiterOrder.popFirst() {
            guard let entry = waiters.removeValue(forKey: id) else { continue }
            admitted.append(entry.waiter)
            pending.append(entry.task)
            enqueued += 1
        }
        return (admitted, admitted.isEmpty ? DrainStarts() : drainsToStart())
    }

    /// Every waiter, removed (the pool closed, stopped or broke: they fail).
    private mutating func removeWaiters() -> [Waiter] {
        let all = waiterOrder.removeAll().compactMap { waiters[$0]?.waiter }
        waiters = [:]
        return all
    }

    // MARK: - Drains

    /// The drain of `slot` asks what to do, having run `executed` tasks of its last batch
    /// (0 for its first question, or after a spin). `isPending` tells whether a task in another
    /// drain's batch has not started yet (it may be stolen). With `canSpin`, a drain that finds
    /// the queue empty may be told to spin for a task first (never two at once).
    mutating func nextStep(slot index: Int, executed: Int, canSpin: Bool = false, isPending: (Task) -> Bool) -> DrainStep {
        precondition(slots[index].draining, "a drain asked for work on slot \(index), which holds no permit")
        if slots[index].isSpinning {
            slots[index].isSpinning = false
            spinning -= 1
        }
        if slots[index].isStarting {
            // Its first question: it no longer counts as a drain about to take a task.
            slots[index].isStarting = false
            starting -= 1
        }
        slots[index].batch.removeAll(keepingCapacity: true)
        slots[index].tasksDone += executed
        switch lifecycle {
        case .broken, .stopped, .joined: return release(index)
        case .running, .closed: break
        }
        if maxTasks > 0 && slots[index].tasksDone >= maxTasks {
            slots[index].workerID = nil
            slots[index].initialized = false
            slots[index].tasksDone = 0
            slots[index].generation += 1
            if pending.isEmpty { return releasing(index, .retire(restart: false)) }
            slots[index].isStarting = true
            starting += 1
            return .retire(restart: true)
        }
        let needsInitializer = hasInitializer && !slots[index].initialized
        var batch: [Task] = []
        if pending.isEmpty {
            // A new worker does not steal: it would first run the initializer.
            if !needsInitializer { batch = steal(for: index, isPending: isPending) }
            if batch.isEmpty {
                if canSpin && spinning == 0 && lifecycle == .running {
                    slots[index].isSpinning = true
                    spinning += 1
                    return .spin(seen: enqueued)
                }
                return release(index)
            }
        }
        let workerID: Int
        if let id = slots[index].workerID {
            workerID = id
        } else {
            workerID = nextWorkerID
            nextWorkerID += 1
            slots[index].workerID = workerID
        }
        if needsInitializer { return .initialize(workerID: workerID) }
        if batch.isEmpty {
            let budget = maxTasks > 0 ? maxTasks - slots[index].tasksDone : batchSize
            // Batches only when the queue is deep enough that every worker is busy anyway.
            let size = max(1, min(budget, batchSize, pending.count / maxWorkers))
            // Filled in the slot's own array, whose storage is reused from batch to batch (the
            // drain no longer holds the last one when it asks).
            while slots[index].batch.count < size, let task = pending.popFirst() { slots[index].batch.append(task) }
        } else {
            slots[index].batch = batch
        }
        return .run(slots[index].batch, workerID: workerID)
    }

    /// The worker of `slot` ran the initializer.
    mutating func initialized(slot index: Int) {
        slots[index].initialized = true
    }

    /// The initializer threw in the worker of `slot`: the pool breaks; its drain ends. Returns
    /// the queued tasks to fail and the waiters to fail.
    mutating func initializerFailed(slot index: Int, message: String) -> (dropped: [Task], waiters: [Waiter]) {
        if lifecycle == .running || lifecycle == .closed { lifecycle = .broken(message) }
        _ = release(index)
        return (pending.removeAll(), removeWaiters())
    }

    /// The queue is empty: half of the unstarted tasks of another drain's batch (it may be stuck
    /// on a long one). A task goes to whichever worker marks it running first.
    private func steal(for index: Int, isPending: (Task) -> Bool) -> [Task] {
        for other in slots.indices where other != index && slots[other].batch.count > 1 {
            let waiting = slots[other].batch.filter(isPending)
            guard !waiting.isEmpty else { continue }
            return Array(waiting.suffix(max(1, waiting.count / 2)))
        }
        return []
    }

    private mutating func release(_ index: Int) -> DrainStep {
        releasing(index, .idle)
    }

    private mutating func releasing(_ index: Int, _ step: DrainStep) -> DrainStep {
        slots[index].draining = false
        slots[index].batch = []
        active -= 1
        idleSlots.append(index)
        return step
    }

    // MARK: - Idle workers (idleTimeout)

    /// Workers that exist: slots whose worker has its id (and its initializer state), busy or idle.
    var liveWorkers: Int { slots.reduce(0) { $0 + ($1.workerID == nil ? 0 : 1) } }

    /// The drain of `slot` ended at `now` (the step was `.idle` or `.retire`), with `idleTimeout`
    /// set: its worker's idle time starts. Returns when to fire the idle timer if it must be
    /// armed now (it is not, and this worker may end), else `nil`.
    mutating func wentIdle(slot index: Int, now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        guard let idleTimeout, !slots[index].draining, slots[index].workerID != nil else { return nil }
        slots[index].idleSince = now
        guard idleTimerDeadline == nil, liveWorkers > minWorkers else { return nil }
        let deadline = now + idleTimeout
        idleTimerDeadline = deadline
        return deadline
    }

    /// The idle timer fired at `now`: the workers idle for `idleTimeout`, longest idle first, end
    /// (their slots keep no id and no initializer state: the next drain there starts a new worker)
    /// as long as more than `minWorkers` are left. Returns their ids, and when to fire the timer
    /// next (the earliest idle worker that may still end), or `nil` to leave it disarmed.
    mutating func idleTimerFired(now: ContinuousClock.Instant) -> (ended: [Int], next: ContinuousClock.Instant?) {
        idleTimerDeadline = nil
        guard let idleTimeout else { return ([], nil) }
        switch lifecycle {
        case .running, .closed: break
        case .stopped, .joined, .broken: return ([], nil)
        }
        var live = liveWorkers
        var ended: [Int] = []
        let idle = slots.indices
            .filter { !slots[$0].draining && slots[$0].workerID != nil && slots[$0].idleSince != nil }
            .sorted { slots[$0].idleSince! < slots[$1].idleSince! }
        var next: ContinuousClock.Instant?
        for index in idle where live > minWorkers {
            let deadline = slots[index].idleSince! + idleTimeout
            guard deadline <= now else {
                next = deadline
                break
            }
            ended.append(slots[index].workerID!)
            slots[index].workerID = nil
            slots[index].initialized = false
            slots[index].tasksDone = 0
            slots[index].idleSince = nil
            live -= 1
        }
        idleTimerDeadline = next
        return (ended, next)
    }

    // MARK: - Lifecycle

    /// `close()`: no new work; queued tasks still run. Returns the waiters to fail.
    mutating func close() -> [Waiter] {
        guard lifecycle == .running else { return [] }
        lifecycle = .closed
        return removeWaiters()
    }

    /// `stop()`: no new work; queued tasks, and those taken in a batch but not started, are
    /// dropped (the pool cancels them). Returns them and the waiters to fail.
    mutating func stop() -> (dropped: [Task], waiters: [Waiter]) {
        guard lifecycle != .joined else { return ([], []) }
        lifecycle = .stopped
        let dropped = pending.removeAll() + slots.flatMap(\.batch)
        return (dropped, removeWaiters())
    }

    /// `join` saw every drain end.
    mutating func joined() {
        precondition(lifecycle != .running, "joined a running pool")
        lifecycle = .joined
    }

    // MARK: - Deadlines

    /// Whether a task whose deadline is `deadline` starts at `now`: one already past fails instead.
    static func start(deadline: ContinuousClock.Instant?, now: @autoclosure () -> ContinuousClock.Instant) -> StartDecision {
        guard let deadline else { return .run }
        return now() >= deadline ? .pastDeadline : .run
    }
}
