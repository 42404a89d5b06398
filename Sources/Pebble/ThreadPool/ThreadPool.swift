// SPDX-License-Identifier: Apache-2.0
import Dispatch

/// A pool of workers that runs closures, at most `maxWorkers` at a time.
///
/// Each worker is a serial `DispatchQueue`. While tasks are queued, a worker's queue runs a
/// *drain*: one work item that takes tasks from the pool's shared FIFO queue in batches and runs
/// them, then ends when the queue is empty, giving its thread back to Dispatch; an idle pool holds
/// no thread. A count of drains, decided under the pool's lock, acts as the semaphore that bounds
/// `maxWorkers`: a task scheduled while every worker is busy waits in the queue, and the
/// scheduling thread never blocks. With `maxTasks > 0` a worker is retired after that many tasks:
/// its slot gets a fresh queue, and the next worker there runs the `initializer` again.
///
/// With ``Configuration/idleTimeout``, a worker idle that long ends (never below
/// ``Configuration/minWorkers``): its slot's next task starts a new worker, with a new id and the
/// initializer run again.
///
/// Blocking closures: a worker's queue runs on Dispatch's overcommit root queue (the default
/// target of a serial queue), which gives a work item a new thread when its threads are all busy.
/// A closure that blocks therefore holds a thread of its own, never one of the few threads of
/// `DispatchQueue.global()` and Swift's cooperative executor, and delays no other Dispatch work
/// or `Task` of the process; `maxWorkers` bounds how many such threads the pool holds.
///
/// ```swift
/// let pool = try ThreadPool(maxWorkers: 4)
/// let future = try pool.schedule { expensiveComputation() }
/// print(try future.result())
/// pool.close()
/// try pool.join()
/// ```
public final class ThreadPool: Sendable {
    /// Whether `maxPending` bounds the queue.
    let isBounded: Bool
    /// The configuration the pool was created with.
    ///
    /// ```swift
    /// print(pool.configuration.maxWorkers)
    /// ```
    public let configuration: Configuration
    var maxWorkers: Int { configuration.maxWorkers }
    var maxTasks: Int { configuration.maxTasks }
    var initializer: (@Sendable () throws -> Void)? { configuration.initializer }
    /// The pool's state: its decisions (``ThreadPoolStateMachine``) and its workers' queues.
    let state: PoolMonitor<State>
    /// Entered for each drain from the moment it is decided until it ends; `join` waits for it
    /// to be empty.
    let activeDrains = DispatchGroup()
    /// Where timeout and deadline timers fire: the pool's own queue, never a global one.
    let timerQueue = DispatchQueue(label: "pebble.thread-pool.timers")
    /// What a drain spinning for a task watches, and each slot's spin budget.
    let spin = SpinSignal()
    let spinners: Spinners
    /// The counters behind ``statistics``.
    let tally: Tally
    /// Each slot's wait and run times not yet in the histograms.
    let latencies: Latencies
    /// Called each time an async `run` starts waiting for room (a seam for tests; off the hot path).
    let roomWaiterAdded = StateLock<(@Sendable () -> Void)?>(nil)
    /// With `idleTimeout`: the one timer that ends idle workers (see ``idleTimerFired()``).
    let idleTimer: SendableTimer?
    /// Called with the ids of the workers each firing of the idle timer ended, and whether it
    /// was armed again (a seam for tests; off the hot path).
    let idleWorkersEnded = StateLock<(@Sendable (_ ended: [Int], _ rearmed: Bool) -> Void)?>(nil)

    /// Creates a pool.
    ///
    /// - Parameters:
    ///   - maxWorkers: how many tasks may run at once; at least 1. Defaults to the usable CPU count.
    ///   - maxTasks: after this many tasks a worker is replaced by a new one (0: never).
    ///   - initializer: runs once in each new worker before its first task. If it throws, the pool
    ///     breaks: pending futures fail with `.initializerFailed` and `schedule` throws it.
    /// - Throws: ``PebbleError`` `.invalidArgument` for `maxWorkers < 1` or `maxTasks < 0`.
    ///
    /// ```swift
    /// let pool = try ThreadPool(maxWorkers: 2, maxTasks: 100) { openConnection() }
    /// ```
    public convenience init(
        maxWorkers: Int = usableCPUCount(), maxTasks: Int = 0,
        initializer: (@Sendable () throws -> Void)? = nil
    ) throws {
        var configuration = Configuration(maxWorkers: maxWorkers)
        configuration.maxTasks = maxTasks
        configuration.initializer = initializer
        try self.init(configuration: configuration)
    }

    /// Creates a pool from a ``Configuration``, with the same validation as
    /// ``init(maxWorkers:maxTasks:initializer:)``.
    ///
    /// ```swift
    /// var configuration = ThreadPool.Configuration(maxWorkers: 4)
    /// configuration.maxPending = 100
    /// let pool = try ThreadPool(configuration: configuration)
    /// ```
    public init(configuration: Configuration) throws {
        try configuration.validate()
        self.configuration = configuration
        self.isBounded = configuration.maxPending != nil
        self.tally = Tally(workers: configuration.maxWorkers)
        self.spinners = Spinners(count: configuration.maxWorkers)
        self.latencies = Latencies(slots: configuration.maxWorkers, capacity: Self.batchSize)
        let machine = Machine(
            maxWorkers: configuration.maxWorkers, maxTasks: configuration.maxTasks,
            maxPending: configuration.maxPending, hasInitializer: configuration.initializer != nil,
            batchSize: Self.batchSize, minWorkers: configuration.minWorkers,
            idleTimeout: configuration.idleTimeout)
        self.state = PoolMonitor(State(machine: machine, queues: (0..<configuration.maxWorkers).map { _ in Self.makeWorkerQueue() }))
        // Never scheduled until a worker goes idle: an active timer without a deadline never fires.
        self.idleTimer =
            configuration.idleTimeout == nil
            ? nil
            : SendableTimer(timer: DispatchSource.makeTimerSource(queue: timerQueue))
        if let idleTimer {
            idleTimer.timer.setEventHandler { [weak self] in self?.idleTimerFired() }
            idleTimer.timer.activate()
        }
    }

    deinit {
        idleTimer?.timer.cancel()
    }

    /// `true` while the pool accepts or still runs work: before `join` completes after `close()`,
    /// and never after `stop()` or a failed initializer.
    ///
    /// ```swift
    /// if pool.isActive { _ = try pool.schedule { 1 } }
    /// ```
    public var isActive: Bool {
        state.withLock { $0.machine.lifecycle == .running || $0.machine.lifecycle == .closed }
    }

    /// Schedules `work` and returns its future.
    ///
    /// - Parameter deadline: when set, a task not finished by then fails with ``TimeoutError``: if
    ///   it is still queued it leaves the queue and never runs (``TimeoutError/wasRunning`` is
    ///   `false`); if it is running, the closure runs on (a thread cannot be stopped) but its
    ///   future fails at the deadline (`wasRunning` is `true`). The error's `timeout` is the
    ///   deadline's distance from this call (zero for a deadline already past).
    ///   One Dispatch timer per deadline, on the pool's own queue.
    /// - Throws: ``PebbleError`` `.queueFull` when `maxPending` tasks are already queued (nothing
    ///   is enqueued), `.poolNotRunning` after `close()` or `stop()`, `.initializerFailed` after
    ///   the initializer failed.
    ///
    /// ```swift
    /// let future = try pool.schedule(deadline: .now + .milliseconds(200)) { try parse(document) }
    /// ```
    @inlinable
    public func schedule<T: Sendable>(
        deadline: ContinuousClock.Instant? = nil,
        _ work: @escaping @Sendable () throws -> T
    ) throws -> Future<T> {
        // Inlinable: the caller's module names `TypedThreadTask<T>` and `Future<T>` with its own
        // types, so creating them asks the runtime for no generic metadata.
        let task = deadline == nil ? TypedThreadTask(pool: self, work) : TypedThreadTask(pool: self, deadline: deadline, work)
        try enqueue(task)
        return Future(core: task)
    }

    /// Runs `work` on the pool and awaits its value. Cancelling the awaiting task cancels it: a
    /// task that has not started never starts.
    ///
    /// When `maxPending` tasks are already queued, this waits for room instead of throwing
    /// `.queueFull`, behind the `run` calls that waited before it (FIFO). A Task cancelled while it
    /// waits throws `CancellationError` and enqueues nothing; a pool closed or stopped meanwhile
    /// makes it throw `.poolNotRunning`.
    ///
    /// - Parameter deadline: as for ``schedule(deadline:_:)``; its timer starts once the task is
    ///   in the queue, so a `run` still waiting for room at its deadline fails with
    ///   ``TimeoutError`` as soon as it gets room, without running.
    ///
    /// ```swift
    /// let value = try await pool.run(deadline: .now + .seconds(1)) { checksum(file) }
    /// ```
    @inlinable
    public func run<T: Sendable>(
        deadline: ContinuousClock.Instant? = nil,
        _ work: @escaping @Sendable () throws -> T
    ) async throws -> T {
        let task = deadline == nil ? TypedThreadTask(pool: self, work) : TypedThreadTask(pool: self, deadline: deadline, work)
        try await enqueueWaitingForRoom(task)
        return try await value(of: task)
    }

    /// The value of `task`, awaited: watched first (see ``WaitSpin``: a quick closure on an awake
    /// worker is done in a microsecond or two, and then the awaiting Task goes on at once on its
    /// own thread, with no suspension and no hop through the executor, which costs a thread
    /// wake-up), then awaited on the task itself (cancelling the awaiting Task cancels it). The
    /// watch is bounded like a contended lock's, so the cooperative thread is never held long.
    @usableFromInline
    func value<T: Sendable>(of task: TypedThreadTask<T>) async throws -> T {
        let outcome: FutureCore.Outcome
        if !Task.isCancelled, (task.spinsOnWait ? WaitSpin.ready : WaitSpin.slowStart).spin(for: task),
            let done = task.completedOutcome
        {
            outcome = done
        } else {
            outcome = await task.awaitedOutcome()
        }
        switch outcome {
        case .value(let value): return value as! T
        case .failure(let error): throw error
        }
    }

    /// Applies `transform` to every input, `chunkSize` inputs per task.
    ///
    /// - Parameters:
    ///   - inputs: the values to transform, read at once (the sequence must be finite).
    ///   - chunkSize: inputs per task; at least 1.
    ///   - timeout: bounds each chunk from when it starts: a chunk not done in time yields
    ///     ``TimeoutError`` for each of its inputs (the thread itself cannot be stopped and runs on).
    ///   - transform: runs on a worker thread once per input; an input whose transform throws
    ///     fails alone.
    /// - Returns: a ``MapFuture`` with one outcome per input, in input order.
    /// - Throws: `.queueFull` when the chunks do not all fit under `maxPending` (a chunk counts as
    ///   one task; nothing is enqueued), `.invalidArgument`, `.poolNotRunning`.
    ///
    /// ```swift
    /// let lengths = try pool.map(words, chunkSize: 100) { $0.count }
    /// print(try lengths.result().values())
    /// ```
    public func map<S: Sequence, T: Sendable>(
        _ inputs: S, chunkSize: Int = 1, timeout: Duration? = nil,
        _ transform: @escaping @Sendable (S.Element) throws -> T
    ) throws -> MapFuture<T>
    where S.Element: Sendable {
        guard chunkSize >= 1 else { throw PebbleError.invalidArgument("chunkSize", "must be at least 1, got \(chunkSize)") }
        try validateTimeout(timeout)
        let chunks = chunked(inputs, size: chunkSize)
        let tasks = chunks.map { chunk in
            MapChunkTask(pool: self, timeout: timeout, weight: chunk.count) {
                MapChunkValues(applying: transform, to: chunk)
            }
        }
        try enqueue(tasks)
        return MapFuture(
            chunks: zip(tasks, chunks).map {
                MapChunk(future: Future<MapChunkValues<T>>(core: $0), count: $1.count)
            })
    }

    /// Stops accepting work; queued tasks still run. Call ``join(timeout:)`` to wait for them.
    /// `run` calls still waiting for room under `maxPending` throw `.poolNotRunning`.
    ///
    /// ```swift
    /// pool.close(); try pool.join()
    /// ```
    public func close() {
        // Running drains go on until the queue is empty; idle slots have nothing to wake.
        let waiters = state.withLock { state in
            let waiters = state.machine.close()
            forget(waiters)
            return waiters
        }
        let error = PebbleError(.poolNotRunning, "the pool was closed while this run waited for room in its queue")
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    /// Stops the pool: queued tasks never run (their futures fail with `CancellationError`);
    /// running tasks finish, as threads cannot be stopped. Safe to call from a task or a callback.
    ///
    /// ```swift
    /// pool.stop(); try pool.join()
    /// ```
    public func stop() {
        let (dropped, waiters) = state.withLock { state in
            let stopped = state.machine.stop()
            forget(stopped.waiters)
            return stopped
        }
        // A task a drain took in a batch but has not started is dropped too; one running goes on.
        for task in dropped { _ = task.cancel() }
        let error = PebbleError(.poolNotRunning, "the pool was stopped while this run waited for room in its queue")
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    /// Waits for the pool's work to finish after ``close()`` or ``stop()``.
    ///
    /// - Throws: `.poolStillRunning` if neither was called, `.wouldDeadlock` from inside one of the
    ///   pool's own tasks, `.waitTimedOut` when `timeout` runs out first.
    ///
    /// ```swift
    /// pool.close()
    /// try pool.join(timeout: .seconds(30))
    /// ```
    @available(*, noasync, renamed: "join(timeout:)", message: "blocks the thread")
    public func join(timeout: Duration? = nil) throws {
        try validateTimeout(timeout)
        if state.withLock({ $0.machine.lifecycle == .running }) {
            throw PebbleError(.poolStillRunning, "join() needs close() or stop() first")
        }
        if isCurrentPool {
            throw PebbleError(.wouldDeadlock, "join() was called from one of this pool's own tasks; it would wait for itself")
        }
        if activeDrains.wait(timeout: deadline(after: timeout)) == .timedOut {
            throw PebbleError.joinTimedOut(after: timeout)
        }
        state.withLock { $0.machine.joined() }
    }
}
