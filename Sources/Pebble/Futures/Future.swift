// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization

/// The eventual outcome of a task scheduled on a ``ThreadPool`` or a ``ProcessPool``.
///
/// A future completes exactly once, whatever happens to its task: a value, the task's error, a
/// ``TimeoutError``, a ``ProcessExpired``, or `CancellationError`. Wait for it by blocking
/// (``result(timeout:)``), by awaiting (``value``) or with a callback (``whenComplete(_:)``).
///
/// ```swift
/// let future = try pool.schedule { 6 * 7 }
/// print(try future.result())          // 42, blocking
/// print(try await future.value)       // 42, from async code
/// ```
public final class Future<Value: Sendable>: Sendable {
    typealias Outcome = Result<Value, any Error>
    typealias Observer = @Sendable (Outcome) -> Void

    /// The state, not generic (see ``FutureCore``): for a thread-pool task, the task itself.
    let core: FutureCore

    init() { core = FutureCore() }

    /// A future whose state is `core` (a thread-pool task).
    @usableFromInline init(core: FutureCore) { self.core = core }

    /// A future that is already complete.
    init(completed outcome: Outcome) {
        core = FutureCore(completed: Self.erase(outcome))
    }

    /// `outcome` with its value boxed, as the core keeps it.
    static func erase(_ outcome: Outcome) -> FutureCore.Outcome {
        switch outcome {
        case .success(let value): .value(value)
        case .failure(let error): .failure(error)
        }
    }

    /// The core's outcome with its value unboxed.
    static func typed(_ outcome: FutureCore.Outcome) -> Outcome {
        switch outcome {
        case .value(let value): .success(value as! Value)
        case .failure(let error): .failure(error)
        }
    }

    // MARK: - Waiting

    /// Blocks until the task is done and returns its value, or throws its error.
    ///
    /// - Parameter timeout: how long to wait; `nil` waits as long as it takes. When it runs out,
    ///   this throws ``PebbleError`` `.waitTimedOut` and the task itself is untouched.
    ///
    /// ```swift
    /// let value = try future.result(timeout: .seconds(5))
    /// ```
    @available(*, noasync, message: "blocks the thread; use 'await future.value' in async code")
    public func result(timeout: Duration? = nil) throws -> Value {
        if timeout == nil, let outcome = core.completedOutcome { return try Self.value(of: outcome) }
        try validateTimeout(timeout)
        try waitUntilDone(until: deadline(after: timeout), timeout: timeout)
        return try Self.value(of: core.outcome!)
    }

    /// The value of `outcome`, or its error thrown; without building a `Result<Value, any Error>`.
    private static func value(of outcome: FutureCore.Outcome) throws -> Value {
        switch outcome {
        case .value(let value): return value as! Value
        case .failure(let error): throw error
        }
    }

    /// Blocks until the task is done and returns its error, or `nil` if it produced a value.
    ///
    /// ```swift
    /// if let error = try future.error(timeout: .seconds(1)) { print("failed:", error) }
    /// ```
    @available(*, noasync, message: "blocks the thread; use 'await future.value' in async code")
    public func error(timeout: Duration? = nil) throws -> (any Error)? {
        try validateTimeout(timeout)
        try waitUntilDone(until: deadline(after: timeout), timeout: timeout)
        return core.outcome!.failure
    }

    /// The task's value, awaited. Cancelling the awaiting `Task` cancels this future.
    ///
    /// ```swift
    /// let value = try await future.value
    /// ```
    public var value: Value {
        get async throws { try Self.value(of: await core.awaitedOutcome()) }
    }

    /// The outcome, awaited without cancelling the future when the awaiting task is cancelled.
    var outcome: Outcome {
        get async { Self.typed(await core.outcomeWhenDone()) }
    }

    /// Blocks until done or until `deadline`; throws `.waitTimedOut` when the deadline passes first.
    func waitForOutcome(until deadline: DispatchTime, timeout: Duration?) throws -> Outcome {
        try waitUntilDone(until: deadline, timeout: timeout)
        return Self.typed(core.outcome!)
    }

    private func waitUntilDone(until deadline: DispatchTime, timeout: Duration?) throws {
        if !core.wait(until: deadline) {
            throw PebbleError(.waitTimedOut, "the task did not finish within \(timeout ?? .zero); it goes on running")
        }
    }

    // MARK: - State

    /// Cancels the task.
    ///
    /// A pending task never starts. A process task sent to a worker that has not started it yet is
    /// taken back and never runs; its worker lives on. A running process task is stopped (its
    /// worker is killed and replaced). A running thread task cannot be stopped, so this returns `false`; so does a
    /// finished task. When this returns `true` the future has completed with `CancellationError`.
    ///
    /// ```swift
    /// if future.cancel() { print("it will never run, or it was stopped") }
    /// ```
    @discardableResult
    public func cancel() -> Bool {
        core.cancel()
    }

    /// Whether the future was cancelled with ``cancel()``, by cancelling an awaiting `Task`, or by
    /// `stop()` of its pool.
    ///
    /// ```swift
    /// future.cancel()
    /// assert(future.isCancelled)
    /// ```
    public var isCancelled: Bool { core.isCancelled }

    /// Whether the task has started (a process task: a worker took it) and is not yet done.
    ///
    /// ```swift
    /// if future.isRunning { print("on a worker now") }
    /// ```
    public var isRunning: Bool { core.isRunning }

    /// Whether the future has its outcome.
    ///
    /// ```swift
    /// if future.isDone { print(try future.result()) }
    /// ```
    public var isDone: Bool { core.isDone }

    /// What the task cost its worker: the CPU time the worker used while running it and the peak
    /// resident set it reached meanwhile (reset at the start of each task). Set for a process task
    /// that ran and sent its outcome, in a pool with
    /// ``ProcessPool/Configuration/recordsResourceUsage`` on; `nil` until the future is done, and
    /// for thread tasks, tasks that never ran, or with the setting off. A task whose worker died
    /// has its usage in the ``ProcessExpired`` it fails with.
    ///
    /// ```swift
    /// let future = try pool.schedule(Resize(image: upload))
    /// _ = try await future.value
    /// if let usage = future.resourceUsage {
    ///     log.info("resize: cpu \(usage.userTime + usage.systemTime), peak \(usage.peakResidentMemory ?? 0) bytes")
    /// }
    /// ```
    public var resourceUsage: ResourceUsage? { core.resourceUsage }

    /// Calls `callback` once with the outcome.
    ///
    /// If the future is already done the callback runs at once on the calling thread. Otherwise it
    /// runs after completion on one of Pebble's callback threads (never `DispatchQueue.global()`,
    /// never Swift's cooperative pool, never a pool's own threads, never under a lock).
    ///
    /// What a callback may do: call `schedule`, `stop()`, `result()` of other futures, block or
    /// sleep. Quick callbacks run one after another on one thread; when they stop finishing for
    /// 20 ms (a callback blocks), more threads start, one per waiting callback, so a callback that
    /// blocks delays the others by about 20 ms and never delays a timeout or a `Task`. Each blocked
    /// callback holds a thread, so blocking thousands at once costs thousands of threads; idle ones
    /// exit after a second. Callbacks run in no defined order relative to one another.
    ///
    /// ```swift
    /// future.whenComplete { result in print("done:", result) }
    /// ```
    public func whenComplete(_ callback: @escaping @Sendable (Result<Value, any Error>) -> Void) {
        if let outcome = completedOutcome { return callback(outcome) }
        observe { outcome in PebbleQueues.runCallback { callback(outcome) } }
    }

    // MARK: - Internal: used by the pools

    var completedOutcome: Outcome? {
        core.completedOutcome.map(Self.typed)
    }

    /// Runs `observer` inline when the future completes (at once if it has). Observers must be quick
    /// and must not call back into pools.
    func observe(_ observer: @escaping Observer) {
        core.observe { [core] in observer(Self.typed(core.outcome!)) }
    }

    /// Moves a pending future to running. Returns `false` when it was already done (cancelled):
    /// the task must then not start.
    func markRunning(stopHandler: (@Sendable () -> Bool)? = nil, hasStarted: (@Sendable () -> Bool)? = nil) -> Bool {
        core.markRunning(stopHandler: stopHandler, hasStarted: hasStarted)
    }

    /// Moves a running future back to pending: its worker died before the task started.
    /// Returns `false` when it is no longer running (it was cancelled meanwhile).
    func markPending() -> Bool {
        core.markPending()
    }

    /// Completes the future; the first completion wins. A `CancellationError` outcome counts as
    /// cancelled. Returns whether this call completed it.
    @discardableResult
    func complete(_ outcome: Outcome, cancelled: Bool = false) -> Bool {
        core.complete(Self.erase(outcome), cancelled: cancelled)
    }

    /// The first half of ``complete(_:cancelled:)``: records the outcome and returns the observers
    /// to notify (`nil` if the future was already done). Callable under a pool's lock; the caller
    /// then calls ``notify(_:of:)`` outside it.
    func settle(_ outcome: Outcome, cancelled: Bool = false) -> [Observer]? {
        guard let settled = core.settle(Self.erase(outcome), cancelled: cancelled) else { return nil }
        return [{ [core] _ in core.finish(settled) }]
    }

    /// Makes `owner` the one told of this future's completion. Call before the future is shared.
    func setOwner(_ owner: any CompletionOwner) {
        core.setOwner(owner)
    }

    /// Forgets the owner without telling it (a task its pool refused).
    func clearOwner() {
        core.clearOwner()
    }

    /// Runs the observers a ``settle(_:cancelled:)`` returned.
    func notify(_ observers: [Observer], of outcome: Outcome) {
        for observer in observers { observer(outcome) }
    }
}

/// What a pool attaches to a future to count its outcome exactly: told once, whichever path
/// completes the future (the task, a timer, a cancel). Not generic, so that the hot path pays no
/// generic metadata lookups.
protocol CompletionOwner: AnyObject, Sendable {
    /// Called under the future's lock, before the outcome is visible: must only update counters
    /// (atomics), never take another lock. `failure` is `nil` for a value.
    func recordCompletion(failure: (any Error)?, wasPending: Bool)
    /// Called right after, outside the future's lock and before its observers run.
    func didComplete(wasPending: Bool)
}
