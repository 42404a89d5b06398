// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization

/// A scheduled closure, type-erased once at `schedule`: the state of its future (a ``FutureCore``)
/// plus what the pool needs. Not generic, so that the queue, the workers and the completion never
/// ask the runtime for generic metadata; only ``TypedThreadTask/execute()``, the one place that
/// knows the value type, runs the closure and boxes its value.
@usableFromInline
class ThreadTask: FutureCore, @unchecked Sendable {
    // @unchecked Sendable: the lets are immutable; everything else is the core's, which is safe
    // on its own. What only a map chunk needs (its timeout, weight, failures) lives in
    // `MapChunkTask`, and a deadline out of line, so that a plain task stays small (it is
    // allocated once per `schedule`).

    /// The pool whose statistics count this task (and whose waiters a freed queue slot wakes).
    /// `unowned(unsafe)`, to keep two contended reference-count operations on the pool off the hot
    /// path. Safe: the task touches `pool` only while it is queued or running, and a pool with a
    /// queued or running task is alive (a drain holds it until it ends, which it does only with
    /// the queue empty, and `stop()` or a broken initializer completes every queued task first);
    /// a task the pool refused (`armDeadline(accepted: false)`) never touches it.
    unowned(unsafe) let pool: ThreadPool
    /// The counters of the worker that started the task (an unretained pointer; 0 until it has),
    /// where its outcome is counted. Stored after `markRunning` won, so a worker that lost the task
    /// to another (work stealing) never writes it; a timer that completes the task in between finds
    /// 0 and counts on the shared block instead (only the sums matter). Unretained: the pool's
    /// tally holds every block for the pool's lifetime, which outlasts a running task.
    let startedOn = Atomic<UInt>(0)
    /// The deadline, when there is one: kept out of line so that a task without one stays small.
    let deadline: TaskDeadline?
    /// When it was scheduled (``monotonicNanoseconds()``), the start of its wait time.
    let scheduledAt: UInt64

    init(pool: ThreadPool, deadline: ContinuousClock.Instant?) {
        self.pool = pool
        self.scheduledAt = monotonicNanoseconds()
        if let deadline {
            // TimeoutError carries a duration: the deadline's distance from schedule time.
            let budget = max(.zero, deadline - ContinuousClock.now)
            let timer = DispatchSource.makeTimerSource(queue: pool.timerQueue)
            timer.schedule(deadline: budget.deadlineFromNow)
            self.deadline = TaskDeadline(instant: deadline, budget: budget, timer: SendableTimer(timer: timer))
            super.init()
            // A cycle (task → timer → handler → task) that the timer's cancellation breaks: at
            // completion (`didComplete`) or when the pool refuses the task.
            // Its `wasRunning` says whether a worker had taken the task when it fired.
            timer.setEventHandler { [self] in completeTimedOut(budget) }
        } else {
            self.deadline = nil
            super.init()
        }
    }

    /// A task without a deadline: the path of `schedule` and `run` without one, and of a map
    /// chunk, which never handles a `ContinuousClock.Instant?` (a resilient type, copied through
    /// its value witnesses).
    init(pool: ThreadPool) {
        self.pool = pool
        self.deadline = nil
        self.scheduledAt = monotonicNanoseconds()
        super.init()
    }

    /// Starts the deadline timer, once the pool has accepted the task; or disarms it for good.
    @inline(__always) final func armDeadline(accepted: Bool) {
        guard let deadline else { return }
        let timer = deadline.timer.timer
        if !accepted { timer.cancel() }
        // A source must be activated once before it is released; a cancelled one never fires.
        timer.resume()
    }

    /// Marks the task running on the worker whose statistics are `counters`; `false` when it was
    /// cancelled (or passed its deadline) while pending.
    final func start(on counters: ThreadPool.Tally.Counters) -> Bool {
        // A worker may reach the task before its timer fires: a deadline already past wins.
        if let deadline, ThreadPool.Machine.start(deadline: deadline.instant, now: .now) == .pastDeadline {
            complete(.failure(TimeoutError(timeout: deadline.budget, wasRunning: false)))
            return false
        }
        guard markRunning() else { return false }
        startedOn.store(UInt(bitPattern: Unmanaged.passUnretained(counters).toOpaque()), ordering: .releasing)
        // Sequentially consistent, then the waiters read: see `enqueueWaitingForRoom`.
        counters.started.wrappingAdd(1, ordering: .sequentiallyConsistent)
        if pool.isBounded { pool.admitWaitersIfAny() }
        return true
    }

    /// Whether it has neither started nor been cancelled.
    final var isPending: Bool {
        state.withLock { if case .pending = $0.phase { true } else { false } }
    }

    /// Runs the closure and records its outcome; overridden by the typed subclasses. Returns the
    /// second half of the completion (``FutureCore/finish(_:)``), for the drain to perform, or
    /// `nil` when the future was already done (a timeout or deadline).
    func execute() -> Settled? {
        fatalError("ThreadTask.execute() is abstract")
    }

    final func fail(_ error: any Error) { complete(.failure(error)) }

    override final func recordCompletion(failure: (any Error)?, wasPending: Bool) {
        let bits = wasPending ? 0 : startedOn.load(ordering: .acquiring)
        let counters =
            bits == 0
            ? pool.tally.shared
            : Unmanaged<ThreadPool.Tally.Counters>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!).takeUnretainedValue()
        if wasPending { counters.started.wrappingAdd(1, ordering: .sequentiallyConsistent) }
        record(failure: failure, on: counters)
    }

    /// Counts the outcome (`failure`, or `nil` for a value) on `counters`, under the future's
    /// lock: one task; a map chunk counts one per input.
    func record(failure: (any Error)?, on counters: ThreadPool.Tally.Counters) {
        if let failure { counters.record(failure, weight: 1) } else { counters.record(ok: 1, failed: 0) }
    }

    override final func didComplete(wasPending: Bool) {
        deadline?.timer.timer.cancel()
        if wasPending && pool.isBounded { pool.admitWaitersIfAny() }
    }
}

/// A task running a closure that returns a `Value`. Usable from inlinable code, so that a client
/// module's `schedule` names its concrete type (a cached metadata access, not a runtime lookup).
@usableFromInline
final class TypedThreadTask<Value: Sendable>: ThreadTask, @unchecked Sendable {
    // @unchecked Sendable: `work` is an immutable Sendable closure; the rest is ThreadTask's.
    let work: @Sendable () throws -> Value

    @usableFromInline
    init(pool: ThreadPool, deadline: ContinuousClock.Instant?, _ work: @escaping @Sendable () throws -> Value) {
        self.work = work
        super.init(pool: pool, deadline: deadline)
    }

    @usableFromInline
    init(pool: ThreadPool, _ work: @escaping @Sendable () throws -> Value) {
        self.work = work
        super.init(pool: pool)
    }

    override func execute() -> Settled? {
        let outcome: Outcome
        do { outcome = .value(try work()) } catch { outcome = .failure(error) }
        // The deadline's timer, if any, has nothing left to fail.
        deadline?.timer.timer.cancel()
        return settle(outcome)
    }
}

/// A `map` chunk's task: its value carries one outcome per input, and the statistics count them.
final class MapChunkTask<Value: Sendable>: ThreadTask, @unchecked Sendable {
    // @unchecked Sendable: `work` is an immutable Sendable closure, `chunkFailures` is written
    // and then read by the same thread (see there); the rest is ThreadTask's.
    let work: @Sendable () -> MapChunkValues<Value>
    /// Bounds the chunk from when it starts; the thread runs on.
    let timeout: Duration?
    /// How many outcomes it counts in the statistics (one per input); `maxPending` counts it as
    /// one task.
    let weight: Int
    /// How many of its inputs failed (-1: no value yet), worked out by `execute` before it
    /// completes the future. `nonisolated(unsafe)`: written and then read by the same thread (the
    /// worker that completes the future with a value; only `execute` does).
    nonisolated(unsafe) var chunkFailures = -1

    init(pool: ThreadPool, timeout: Duration?, weight: Int, _ work: @escaping @Sendable () -> MapChunkValues<Value>) {
        self.work = work
        self.timeout = timeout
        self.weight = weight
        super.init(pool: pool)
    }

    override func execute() -> Settled? {
        let timer = timeout.map(armTimeout)
        let values = work()
        chunkFailures = values.chunkError == nil ? values.failures.count : values.count
        timer?.cancel()
        return settle(.value(values))
    }

    override func record(failure: (any Error)?, on counters: ThreadPool.Tally.Counters) {
        if let failure {
            counters.record(failure, weight: weight)
        } else if chunkFailures >= 0 {
            counters.record(ok: weight - chunkFailures, failed: chunkFailures)
        } else {
            counters.record(ok: weight, failed: 0)
        }
    }

    /// Fails the future with `TimeoutError` when `timeout` passes first; the thread runs on.
    private func armTimeout(_ timeout: Duration) -> any DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: pool.timerQueue)
        timer.schedule(deadline: timeout.deadlineFromNow)
        timer.setEventHandler { [self] in complete(.failure(TimeoutError(timeout: timeout))) }
        timer.resume()
        return timer
    }
}

/// A task's deadline: when, its distance from schedule time (the `timeout` of its
/// ``TimeoutError``), and the Dispatch timer that fails the future then.
final class TaskDeadline: Sendable {
    let instant: ContinuousClock.Instant
    let budget: Duration
    let timer: SendableTimer

    init(instant: ContinuousClock.Instant, budget: Duration, timer: SendableTimer) {
        self.instant = instant
        self.budget = budget
        self.timer = timer
    }
}
