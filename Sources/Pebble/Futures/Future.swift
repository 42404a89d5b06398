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

    enum Phase {
        case pending
        /// Running; the handler, when there is one, stops the task and reports whether it did.
        case running(stopHandler: (@Sendable () -> Bool)?)
        case done(Outcome, cancelled: Bool)
    }

    enum CancelDecision {
        case refuse
        case cancelledPending([Observer], (any CompletionOwner)?)
        case stopRunning(@Sendable () -> Bool)
    }

    struct State {
        var phase: Phase = .pending
        /// Internal observers run inline on the completing thread; they never run user code.
        var observers: [Observer] = []
        /// Told of the completion under this lock, before anyone can see the future done; cleared
        /// then, which also breaks the owner ↔ future reference cycle.
        var owner: (any CompletionOwner)?
    }

    let state = StateLock(State())

    init() {}

    /// A future that is already complete.
    init(completed outcome: Outcome) {
        state.withLock { $0.phase = .done(outcome, cancelled: false) }
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
        try validateTimeout(timeout)
        return try waitForOutcome(until: deadline(after: timeout), timeout: timeout).get()
    }

    /// Blocks until the task is done and returns its error, or `nil` if it produced a value.
    ///
    /// ```swift
    /// if let error = try future.error(timeout: .seconds(1)) { print("failed:", error) }
    /// ```
    @available(*, noasync, message: "blocks the thread; use 'await future.value' in async code")
    public func error(timeout: Duration? = nil) throws -> (any Error)? {
        try validateTimeout(timeout)
        if case .failure(let error) = try waitForOutcome(until: deadline(after: timeout), timeout: timeout) {
            return error
        }
        return nil
    }

    /// The task's value, awaited. Cancelling the awaiting `Task` cancels this future.
    ///
    /// ```swift
    /// let value = try await future.value
    /// ```
    public var value: Value {
        get async throws {
            try await withTaskCancellationHandler {
                try await outcome.get()
            } onCancel: {
                cancel()
            }
        }
    }

    /// The outcome, awaited without cancelling the future when the awaiting task is cancelled.
    var outcome: Outcome {
        get async {
            await withCheckedContinuation { continuation in
                observe { continuation.resume(returning: $0) }
            }
        }
    }

    /// Blocks until done or until `deadline`; throws `.waitTimedOut` when the deadline passes first.
    func waitForOutcome(until deadline: DispatchTime, timeout: Duration?) throws -> Outcome {
        if let outcome = completedOutcome { return outcome }
        let semaphore = DispatchSemaphore(value: 0)
        let box = StateLock<Outcome?>(nil)
        observe { outcome in
            box.withLock { $0 = outcome }
            semaphore.signal()
        }
        if semaphore.wait(timeout: deadline) == .timedOut {
            throw PebbleError(.waitTimedOut, "the task did not finish within \(timeout ?? .zero); it goes on running")
        }
        return box.withLock { $0! }
    }

    // MARK: - State

    /// Cancels the task.
    ///
    /// A pending task never starts. A running process task is stopped (its worker is killed and
    /// replaced). A running thread task cannot be stopped, so this returns `false`; so does a
    /// finished task. When this returns `true` the future has completed with `CancellationError`.
    ///
    /// ```swift
    /// if future.cancel() { print("it will never run, or it was stopped") }
    /// ```
    @discardableResult
    public func cancel() -> Bool {
        // One transition under the future's lock decides: pending → cancelled (the task can no
        // longer start, since starting is pending → running under the same lock), or a running
        // task's stop handler, which completes the future with CancellationError itself, under its
        // pool's lock, only while the task still runs there. `true` therefore always means the
        // future completed with CancellationError, and that a pending task never starts.
        let decision: CancelDecision = state.withLock { state in
            switch state.phase {
            case .done: return .refuse
            case .pending:
                state.phase = .done(.failure(CancellationError()), cancelled: true)
                let owner = state.owner
                state.owner = nil
                owner?.recordCompletion(failure: CancellationError(), wasPending: true)
                defer { state.observers = [] }
                return .cancelledPending(state.observers, owner)
            case .running(let stop): return stop.map(CancelDecision.stopRunning) ?? .refuse
            }
        }
        switch decision {
        case .refuse: return false
        case .cancelledPending(let observers, let owner):
            owner?.didComplete(wasPending: true)
            notify(observers, of: .failure(CancellationError()))
            return true
        case .stopRunning(let stop):
            return stop()
        }
    }

    /// Whether the future was cancelled with ``cancel()``, by cancelling an awaiting `Task`, or by
    /// `stop()` of its pool.
    ///
    /// ```swift
    /// future.cancel()
    /// assert(future.isCancelled)
    /// ```
    public var isCancelled: Bool {
        state.withLock { if case .done(_, cancelled: true) = $0.phase { true } else { false } }
    }

    /// Whether the task has started (a process task: was sent to its worker) and is not yet done.
    ///
    /// ```swift
    /// if future.isRunning { print("on a worker now") }
    /// ```
    public var isRunning: Bool {
        state.withLock { if case .running = $0.phase { true } else { false } }
    }

    /// Whether the future has its outcome.
    ///
    /// ```swift
    /// if future.isDone { print(try future.result()) }
    /// ```
    public var isDone: Bool {
        state.withLock { if case .done = $0.phase { true } else { false } }
    }

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
        state.withLock { if case .done(let outcome, _) = $0.phase { outcome } else { nil } }
    }

    /// Runs `observer` inline when the future completes (at once if it has). Observers must be quick
    /// and must not call back into pools.
    func observe(_ observer: @escaping Observer) {
        let outcome: Outcome? = state.withLock { state in
            if case .done(let outcome, _) = state.phase { return outcome }
            state.observers.append(observer)
            return nil
        }
        if let outcome { observer(outcome) }
    }

    /// Moves a pending future to running. Returns `false` when it was already done (cancelled):
    /// the task must then not start.
    func markRunning(stopHandler: (@Sendable () -> Bool)? = nil) -> Bool {
        state.withLock { state in
            guard case .pending = state.phase else { return false }
            state.phase = .running(stopHandler: stopHandler)
            return true
        }
    }

    /// Moves a running future back to pending: its worker died before the task started.
    /// Returns `false` when it is no longer running (it was cancelled meanwhile).
    func markPending() -> Bool {
        state.withLock { state in
            guard case .running = state.phase else { return false }
            state.phase = .pending
            return true
        }
    }

    /// Completes the future; the first completion wins. A `CancellationError` outcome counts as
    /// cancelled. Returns whether this call completed it.
    @discardableResult
    func complete(_ outcome: Outcome, cancelled: Bool = false) -> Bool {
        var owner: (any CompletionOwner)?
        var wasPending = false
        guard let observers = settle(outcome, cancelled: cancelled, owner: &owner, wasPending: &wasPending) else { return false }
        owner?.didComplete(wasPending: wasPending)
        notify(observers, of: outcome)
        return true
    }

    /// The first half of ``complete(_:cancelled:)``: records the outcome and returns the observers
    /// to notify (`nil` if the future was already done). Callable under a pool's lock; the caller
    /// then calls ``notify(_:of:)`` outside it.
    func settle(_ outcome: Outcome, cancelled: Bool = false) -> [Observer]? {
        var owner: (any CompletionOwner)?
        var wasPending = false
        guard let observers = settle(outcome, cancelled: cancelled, owner: &owner, wasPending: &wasPending) else { return nil }
        guard let owner else { return observers }
        return [{ [wasPending] _ in owner.didComplete(wasPending: wasPending) }] + observers
    }

    /// Records the outcome; hands back the owner (told under the lock) and whether the future was
    /// pending. Out-parameters rather than a tuple: this runs unspecialized for every task, and a
    /// generic tuple costs a metadata lookup each time.
    private func settle(_ outcome: Outcome, cancelled: Bool, owner: inout (any CompletionOwner)?,
                        wasPending: inout Bool) -> [Observer]? {
        state.withLock { state in
            switch state.phase {
            case .done: return nil
            case .pending: wasPending = true
            case .running: wasPending = false
            }
            state.phase = .done(outcome, cancelled: cancelled || outcome.failure is CancellationError)
            owner = state.owner
            state.owner = nil
            owner?.recordCompletion(failure: outcome.failure, wasPending: wasPending)
            defer { state.observers = [] }
            return state.observers
        }
    }

    /// Makes `owner` the one told of this future's completion. Call before the future is shared.
    func setOwner(_ owner: any CompletionOwner) {
        state.withLock { $0.owner = owner }
    }

    /// Forgets the owner without telling it (a task its pool refused).
    func clearOwner() {
        state.withLock { $0.owner = nil }
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
