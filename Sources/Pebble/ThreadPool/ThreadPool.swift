// SPDX-License-Identifier: Apache-2.0
import Dispatch

/// A pool of worker threads that runs closures, at most `maxWorkers` at a time.
///
/// Each worker is a serial `DispatchQueue` that drains the pool's queue of tasks; the pool never
/// runs more than `maxWorkers` drains at once, so it never blocks a Dispatch thread waiting for
/// work. With `maxTasks > 0` a worker is retired after that many tasks and the next one runs the
/// `initializer` again.
///
/// ```swift
/// let pool = try ThreadPool(maxWorkers: 4)
/// let future = try pool.schedule { expensiveComputation() }
/// print(try future.result())
/// pool.close()
/// try pool.join()
/// ```
public final class ThreadPool: Sendable {
    /// The configuration the pool was created with.
    ///
    /// ```swift
    /// print(pool.configuration.maxWorkers)
    /// ```
    public let configuration: Configuration
    var maxWorkers: Int { configuration.maxWorkers }
    var maxTasks: Int { configuration.maxTasks }
    var initializer: (@Sendable () throws -> Void)? { configuration.initializer }
    let state: StateLock<State>
    /// Entered while a worker drain is running; `join` waits for it to be empty.
    let activeDrains = DispatchGroup()
    let workerQueues: [DispatchQueue]

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
    public convenience init(maxWorkers: Int = usableCPUCount(), maxTasks: Int = 0,
                            initializer: (@Sendable () throws -> Void)? = nil) throws {
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
        self.state = StateLock(State(workers: Array(repeating: WorkerSlot(), count: configuration.maxWorkers)))
        self.workerQueues = (0..<configuration.maxWorkers).map { DispatchQueue(label: "pebble.thread-pool.worker-\($0)") }
    }

    /// `true` while the pool accepts or still runs work: before `join` completes after `close()`,
    /// and never after `stop()` or a failed initializer.
    ///
    /// ```swift
    /// if pool.isActive { _ = try pool.schedule { 1 } }
    /// ```
    public var isActive: Bool {
        state.withLock { $0.lifecycle == .running || $0.lifecycle == .closed }
    }

    /// Schedules `work` and returns its future.
    ///
    /// - Throws: ``PebbleError`` `.poolNotRunning` after `close()` or `stop()`, `.initializerFailed`
    ///   after the initializer failed.
    ///
    /// ```swift
    /// let future = try pool.schedule { try parse(document) }
    /// ```
    public func schedule<T: Sendable>(_ work: @escaping @Sendable () throws -> T) throws -> Future<T> {
        let task = ThreadTask(work)
        try enqueue([task])
        return task.future
    }

    /// Runs `work` on the pool and awaits its value. Cancelling the awaiting task cancels it: a
    /// task that has not started never starts.
    ///
    /// ```swift
    /// let value = try await pool.run { checksum(file) }
    /// ```
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await schedule(work).value
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
    ///
    /// ```swift
    /// let lengths = try pool.map(words, chunkSize: 100) { $0.count }
    /// print(try lengths.result().values())
    /// ```
    public func map<S: Sequence, T: Sendable>(_ inputs: S, chunkSize: Int = 1, timeout: Duration? = nil,
                                              _ transform: @escaping @Sendable (S.Element) throws -> T) throws -> MapFuture<T>
    where S.Element: Sendable {
        guard chunkSize >= 1 else { throw PebbleError.invalidArgument("chunkSize", "must be at least 1, got \(chunkSize)") }
        try validateTimeout(timeout)
        let chunks = chunked(inputs, size: chunkSize)
        let tasks = chunks.map { chunk in
            ThreadTask(timeout: timeout) { chunk.map { input in Result { try transform(input) } } }
        }
        try enqueue(tasks)
        return MapFuture(chunks: zip(tasks, chunks).map { MapChunk(future: $0.future, count: $1.count) })
    }

    /// Stops accepting work; queued tasks still run. Call ``join(timeout:)`` to wait for them.
    ///
    /// ```swift
    /// pool.close(); try pool.join()
    /// ```
    public func close() {
        state.withLock { if $0.lifecycle == .running { $0.lifecycle = .closed } }
    }

    /// Stops the pool: queued tasks never run (their futures fail with `CancellationError`);
    /// running tasks finish, as threads cannot be stopped. Safe to call from a task or a callback.
    ///
    /// ```swift
    /// pool.stop(); try pool.join()
    /// ```
    public func stop() {
        let dropped: [any AnyThreadTask] = state.withLock { state in
            guard state.lifecycle != .joined else { return [] }
            state.lifecycle = .stopped
            return state.pending.removeAll() + state.workers.flatMap(\.batch)
        }
        // A task a worker took in a batch but has not started is dropped too; one running goes on.
        for task in dropped { task.cancel() }
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
    @available(*, noasync, message: "blocks the thread")
    public func join(timeout: Duration? = nil) throws {
        try validateTimeout(timeout)
        if state.withLock({ $0.lifecycle == .running }) {
            throw PebbleError(.poolStillRunning, "join() needs close() or stop() first")
        }
        if ThreadPool.currentPool == ObjectIdentifier(self) {
            throw PebbleError(.wouldDeadlock, "join() was called from one of this pool's own tasks; it would wait for itself")
        }
        if activeDrains.wait(timeout: deadline(after: timeout)) == .timedOut {
            throw PebbleError(.waitTimedOut, "tasks are still running after \(timeout ?? .zero)")
        }
        state.withLock { $0.lifecycle = .joined }
    }
}
