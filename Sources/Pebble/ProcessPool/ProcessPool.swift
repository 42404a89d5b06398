// SPDX-License-Identifier: Apache-2.0
import Dispatch
import PebbleCodec

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A pool of worker processes that run ``ProcessJob``s, isolated from your process.
///
/// A job that hangs, crashes, leaks or calls `exit` takes down only its worker: its future fails
/// with ``TimeoutError`` or ``ProcessExpired`` and the pool replaces the worker. Workers are copies
/// of your own program (forked by a zygote, or started with `posix_spawn`; see ``StartMethod``);
/// job types are found by name, so they must be
/// `internal` or `public` and declared at namespace scope.
///
/// ```swift
/// struct Parse: ProcessJob {
///     let text: String
///     func run() async throws -> Int { try riskyParser(text) }
/// }
///
/// let pool = try ProcessPool(maxWorkers: 4)
/// let future = try pool.schedule(Parse(text: input), timeout: .seconds(2))
/// switch Result(catching: { try future.result() }) {
/// case .success(let value): print(value)
/// case .failure(let error as TimeoutError): print("hung:", error)
/// case .failure(let error as ProcessExpired): print("crashed:", error)
/// case .failure(let error): print("threw:", error)
/// }
/// pool.close()
/// try pool.join()
/// ```
public final class ProcessPool: Sendable {
    /// How worker processes start.
    ///
    /// ```swift
    /// let pool = try ProcessPool(startMethod: .spawn)
    /// ```
    public struct StartMethod: Hashable, Sendable {
        enum Kind: Hashable, Sendable { case zygote, spawn }
        let kind: Kind

        /// Forked from the zygote: a single-threaded copy of the program started once (on first
        /// use, then kept until the program exits) that forks a new worker in about 0.3 ms. Workers
        /// share the zygote's environment, working directory and hash seed as they were when it
        /// started. The zygote is a child subreaper: what a dead worker's jobs left running is
        /// reparented to it and killed. The grace period's SIGTERM (see `terminationGracePeriod`)
        /// reaches the worker's whole process group, as with `.spawn`.
        /// The default.
        ///
        /// ```swift
        /// let pool = try ProcessPool(startMethod: .zygote)
        /// ```
        public static let zygote = StartMethod(kind: .zygote)
        /// A `posix_spawn` of the program for each worker: about 5 ms each for a dynamically
        /// linked program, but each worker starts from the program's current environment and
        /// working directory. SIGTERM and SIGKILL reach the worker's whole process group; a child
        /// that moves to a group or session of its own (Foundation's `Process` does) outlives it.
        ///
        /// ```swift
        /// setenv("API_TOKEN", token, 1)
        /// let pool = try ProcessPool(startMethod: .spawn)   // workers see API_TOKEN
        /// ```
        public static let spawn = StartMethod(kind: .spawn)
    }

    let core: ProcessPoolCore

    /// Creates a pool. Workers start when work arrives, up to `maxWorkers`.
    ///
    /// - Parameters:
    ///   - maxWorkers: how many worker processes may run at once; at least 1.
    ///   - maxTasks: a worker exits and is replaced after this many tasks (0: never).
    ///   - initializer: a job each new worker runs before its first task. If it throws (or the
    ///     worker dies in it), the pool breaks: pending futures fail with `.initializerFailed`, and
    ///     the pool does not respawn workers in a loop.
    ///   - maxMessageSize: the largest job or output message in bytes, each way (default 1 GiB).
    ///   - terminationGracePeriod: `nil` (the default) stops workers with SIGKILL at once; a duration
    ///     sends SIGTERM first and SIGKILL after it. SIGKILL reaches the worker's whole process group
    ///     (the job's own children), and with `.zygote` also any process its jobs started that
    ///     outlives it; SIGTERM reaches the worker's group too, with either start method.
    ///   - workerName: the process name of the workers (15 characters at most are kept).
    ///   - startMethod: how workers start; see ``StartMethod``.
    /// - Throws: `.invalidArgument` for an argument out of range, `.jobNotResolvable` for an
    ///   initializer type a worker cannot find.
    ///
    /// ```swift
    /// let pool = try ProcessPool(maxWorkers: 2, maxTasks: 100, terminationGracePeriod: .seconds(1))
    /// ```
    public convenience init(
        maxWorkers: Int = usableCPUCount(), maxTasks: Int = 0, initializer: (any ProcessJob)? = nil,
        maxMessageSize: Int = 1 << 30, terminationGracePeriod: Duration? = nil,
        workerName: String? = nil, startMethod: StartMethod = .zygote
    ) throws {
        var configuration = Configuration(maxWorkers: maxWorkers)
        configuration.maxTasks = maxTasks
        configuration.initializer = initializer
        configuration.maxMessageSize = maxMessageSize
        configuration.terminationGracePeriod = terminationGracePeriod
        configuration.workerName = workerName
        configuration.startMethod = startMethod
        try self.init(configuration: configuration)
    }

    /// Creates a pool from a ``Configuration``, with the same validation as
    /// ``init(maxWorkers:maxTasks:initializer:maxMessageSize:terminationGracePeriod:workerName:startMethod:)``.
    ///
    /// - Throws: `.invalidArgument` naming the first setting out of range, `.jobNotResolvable` for
    ///   an initializer type a worker cannot find.
    ///
    /// ```swift
    /// var configuration = ProcessPool.Configuration(maxWorkers: 2)
    /// configuration.maxPending = 100
    /// let pool = try ProcessPool(configuration: configuration)
    /// ```
    public convenience init(configuration: Configuration) throws {
        try configuration.validate()
        var head: [UInt8] = []
        Frame.appendLength(UInt64(configuration.maxMessageSize), to: &head)
        WorkerSettings(configuration).encode(into: &head)
        let tail = try configuration.initializer.map(JobEncoding.body) ?? []
        self.init(core: try ProcessPoolCore(configuration: configuration, helloHead: head, helloTail: tail))
    }

    init(core: ProcessPoolCore) {
        self.core = core
    }

    /// The configuration the pool was created with.
    ///
    /// ```swift
    /// print(pool.configuration.maxWorkers)
    /// ```
    public var configuration: Configuration { core.configuration }

    /// A pool nobody holds any more is closed: queued tasks still run, then its workers exit.
    deinit { core.close() }

    /// `true` while the pool accepts or still runs work; `false` after `stop()`, after `join`, or
    /// once the initializer failed.
    ///
    /// ```swift
    /// if !pool.isActive { print("pool is done") }
    /// ```
    public var isActive: Bool { core.isActive }

    /// Schedules `job` on a worker and returns its future.
    ///
    /// - Parameter job: the job; its type must be `internal` or `public`, at namespace scope.
    /// - Parameter timeout: counted from the moment a worker starts the job, not from `schedule`.
    ///   A job past it is stopped (its worker killed and replaced) and the future fails with
    ///   ``TimeoutError``.
    /// - Parameter deadline: the job must be done by then, queue time included, or its future
    ///   fails with ``TimeoutError`` (whose `timeout` is the time from `schedule` to the deadline):
    ///   a job still queued is removed and never runs; a running one is stopped as for a timeout.
    /// - Throws: `.poolNotRunning` after `close()`/`stop()`, `.queueFull` when `maxPending` tasks
    ///   already wait (nothing is enqueued), `.jobNotResolvable` for a job type a worker cannot
    ///   find, `.invalidArgument` for a negative timeout. A job that cannot be encoded, or is over
    ///   `maxMessageSize`, gives a future failed with `.encodingFailed` or `.messageTooLarge`.
    ///
    /// ```swift
    /// let future = try pool.schedule(Parse(text: input), timeout: .seconds(2),
    ///                                deadline: .now + .seconds(5))
    /// ```
    public func schedule<J: ProcessJob>(
        _ job: J, timeout: Duration? = nil,
        deadline: ContinuousClock.Instant? = nil
    ) throws -> Future<J.Output> {
        try schedule(job, timeout: timeout, deadline: deadline, calledAt: .now)
    }

    /// `schedule`, for a call that began at `calledAt` (an async `run` that waited for room): the
    /// deadline's ``TimeoutError`` carries the time from then to the deadline.
    func schedule<J: ProcessJob>(
        _ job: J, timeout: Duration?, deadline: ContinuousClock.Instant?,
        calledAt scheduled: ContinuousClock.Instant
    ) throws -> Future<J.Output> {
        try validateTimeout(timeout)
        try core.checkAcceptsWork()
        let request: ScatteredBytes
        do {
            request = try JobEncoding.request(job, limit: core.configuration.maxMessageSize)
        } catch let error as PebbleError where error.code != .jobNotResolvable {
            return counted(Future<J.Output>(completed: .failure(error)))
        }
        let task = ProcessTask(request: request, timeout: timeout, stopRunning: core.stopOnCancel) {
            try BinaryDecoder().decode(J.Output.self, from: $0)
        }
        try core.enqueue([task])
        _ = counted(task.future)
        if let deadline {
            let timer = core.armDeadline(task, at: deadline, budget: max(.zero, deadline - scheduled))
            task.future.observe { _ in timer.cancel() }
        }
        return task.future
    }

    /// Counts the future's outcome in ``statistics`` when it completes.
    private func counted<V>(_ future: Future<V>) -> Future<V> {
        future.observe { [core] outcome in core.counters.withLock { $0.record(outcome.failure) } }
        return future
    }

    /// Runs `job` on a worker and awaits its output. Cancelling the awaiting task stops the job.
    /// When the queue is full (`maxPending`), this waits for room, in the order the calls came,
    /// instead of throwing `.queueFull`; a Task cancelled while waiting enqueues nothing. The
    /// deadline bounds the whole call, the wait for room included: at the deadline it throws
    /// ``TimeoutError``, whose `timeout` is the time from the call to the deadline.
    ///
    /// ```swift
    /// let value = try await pool.run(Parse(text: input), timeout: .seconds(2), deadline: .now + .seconds(5))
    /// ```
    public func run<J: ProcessJob>(
        _ job: J, timeout: Duration? = nil,
        deadline: ContinuousClock.Instant? = nil
    ) async throws -> J.Output {
        let called = ContinuousClock.now
        var lostTurn = false
        while true {
            do {
                return try await schedule(job, timeout: timeout, deadline: deadline, calledAt: called).value
            } catch let error as PebbleError where error.code == .queueFull {
                try await core.waitForRoom(
                    atFront: lostTurn, deadline: deadline,
                    budget: max(.zero, (deadline ?? called) - called))
                lostTurn = true
            }
        }
    }

    /// Applies `function` to every input in worker processes, `chunkSize` inputs per task.
    ///
    /// - Parameter function: the function, sent with every chunk.
    /// - Parameter inputs: the inputs, read at once.
    /// - Parameter chunkSize: inputs per task; at least 1.
    /// - Parameter timeout: bounds each chunk from when a worker starts it; a chunk past it, or whose
    ///   worker dies, yields ``TimeoutError`` or ``ProcessExpired`` for each of its inputs.
    /// - Returns: one outcome per input, in input order. An input whose function throws fails alone.
    ///
    /// ```swift
    /// let counts = try pool.map(WordCount(), documents, chunkSize: 50)
    /// for outcome in try counts.result() { print(outcome) }
    /// ```
    @inlinable
    public func map<F: ProcessFunction, S: Sequence>(
        _ function: F, _ inputs: S, chunkSize: Int = 1,
        timeout: Duration? = nil
    ) throws -> MapFuture<F.Output>
    where S.Element == F.Input {
        // Inlined into the caller: the chunks are built by code specialised for its sequence.
        try checkMap(F.self, chunkSize: chunkSize, timeout: timeout)
        return try mapChunks(function, chunked(inputs, size: chunkSize), timeout: timeout)
    }

    /// What `map` throws before it reads its inputs.
    @usableFromInline
    func checkMap<F: ProcessFunction>(_: F.Type, chunkSize: Int, timeout: Duration?) throws {
        guard chunkSize >= 1 else { throw PebbleError.invalidArgument("chunkSize", "must be at least 1, got \(chunkSize)") }
        try validateTimeout(timeout)
        try core.checkAcceptsWork()
        _ = try JobName.of(MapChunkJob<F>.self)
    }

    /// Schedules one task per chunk.
    @usableFromInline
    func mapChunks<F: ProcessFunction>(_ function: F, _ chunks: [[F.Input]], timeout: Duration?) throws -> MapFuture<F.Output> {
        try core.checkAcceptsWork(adding: chunks.count)
        var tasks: [any AnyProcessTask] = []
        tasks.reserveCapacity(chunks.count)
        var futures: [MapChunk<F.Output>] = []
        futures.reserveCapacity(chunks.count)
        for inputs in chunks {
            let chunk = mapChunk(MapChunkJob(function: function, inputs: inputs), timeout: timeout)
            futures.append(MapChunk(future: chunk.future, count: inputs.count))
            if let task = chunk.task { tasks.append(task) }
        }
        try core.enqueue(tasks)
        for chunk in futures {
            chunk.future.observe { [core, count = chunk.count] outcome in
                core.counters.withLock { $0.record(chunk: outcome, inputs: count) }
            }
        }
        return MapFuture(chunks: futures)
    }

    private func mapChunk<F: ProcessFunction>(_ job: MapChunkJob<F>, timeout: Duration?)
        -> (future: Future<MapChunkValues<F.Output>>, task: (any AnyProcessTask)?)
    {
        let request: ScatteredBytes
        do {
            request = try JobEncoding.request(job, limit: core.configuration.maxMessageSize)
        } catch {
            return (Future(completed: .failure(error)), nil)
        }
        let count = job.inputs.count
        let task = ProcessTask(request: request, timeout: timeout, stopRunning: core.stopOnCancel) { data in
            let output = try BinaryDecoder().decode(MapChunkOutput<F.Output>.self, from: data)
            guard let outcomes = output.chunkValues(count: count) else {
                throw PebbleError(.decodingFailed, "a map chunk of \(count) inputs came back with the wrong number of outcomes")
            }
            return outcomes
        }
        return (task.future, task)
    }

    /// Stops accepting work; queued tasks still run, then the workers exit.
    ///
    /// ```swift
    /// pool.close(); try pool.join()
    /// ```
    public func close() { core.close() }

    /// Stops the pool now: running jobs are stopped (their workers killed, with their process
    /// groups), queued jobs never run, and every unfinished future fails with `CancellationError`.
    /// Returns once every worker is dead and reaped: at once with SIGKILL, or within the
    /// termination grace period plus the kill.
    ///
    /// Blocks the calling thread; in async code use the async twin ``stop()-swift.method``.
    ///
    /// ```swift
    /// pool.stop()
    /// ```
    @available(*, noasync, renamed: "stop()", message: "blocks the thread until every worker is reaped")
    public func stop() { core.stop() }

    /// Waits, after ``close()`` or ``stop()``, until every task is done and every worker has exited.
    ///
    /// - Throws: `.poolStillRunning` if neither was called, `.waitTimedOut` when `timeout` runs out.
    ///
    /// ```swift
    /// pool.close()
    /// try pool.join(timeout: .seconds(30))
    /// ```
    @available(*, noasync, renamed: "join(timeout:)", message: "blocks the thread")
    public func join(timeout: Duration? = nil) throws {
        try validateTimeout(timeout)
        try core.join(timeout: timeout)
    }
}
