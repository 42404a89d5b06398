// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization

/// A scheduled closure with its future, type-erased for the pool's queue.
protocol AnyThreadTask: AnyObject, Sendable {
    /// Marks the task running on the worker whose statistics are `counters`; `false` when it was cancelled (or passed its
    /// deadline) while pending.
    func start(on counters: ThreadPool.Tally.Counters) -> Bool
    /// Cancels the task if it has not started.
    func cancel()
    /// Whether it has neither started nor been cancelled.
    var isPending: Bool { get }
    func execute()
    func fail(_ error: any Error)
    /// How many tasks `maxPending` counts it as (always 1) and how many outcomes it counts in the
    /// statistics (a map chunk: one per input).
    var weight: Int { get }
    /// Starts the deadline timer, once the pool has accepted the task; or disarms it for good.
    func armDeadline(accepted: Bool)
}

final class ThreadTask<Value: Sendable>: AnyThreadTask, CompletionOwner {
    let future = Future<Value>()
    let work: @Sendable () throws -> Value
    let timeout: Duration?
    /// The pool whose statistics count this task (and whose waiters a freed queue slot wakes).
    /// `unowned(unsafe)`, to keep two contended reference-count operations on the pool off the hot
    /// path. Safe: the task touches `pool` only while it is queued or running, and a pool with a
    /// queued or running task is alive (a worker drain holds it until its queue is empty, and
    /// `stop()` or a broken initializer completes every queued task first); a task the pool refused
    /// (`armDeadline(accepted: false)`) never touches it.
    unowned(unsafe) let pool: ThreadPool
    let weight: Int
    /// For a map chunk: how many of its inputs failed.
    let split: (@Sendable (Value) -> Int)?
    /// `split` of the value (-1: not a chunk's value), worked out by `execute` before it completes
    /// the future. `nonisolated(unsafe)`: written and then read by the same thread (the worker
    /// that completes the future with a value; only `execute` completes it with one).
    nonisolated(unsafe) var chunkFailures = -1
    /// The counters of the worker that started the task (an unretained pointer; 0 until it has),
    /// where its outcome is counted. Stored after `markRunning` won, so a worker that lost the task
    /// to another (work stealing) never writes it; a timer that completes the task in between finds
    /// 0 and counts on the shared block instead (only the sums matter). Unretained: the pool's
    /// tally holds every block for the pool's lifetime, which outlasts a running task, and no
    /// reference counting happens on a block two threads share.
    let startedOn = Atomic<UInt>(0)
    /// Whether the pool bounds its queue (then a task leaving it may admit a waiting `run`).
    let bounded: Bool
    /// The deadline, when there is one: kept out of line so that a task without one stays small
    /// (`map` and a burst of `schedule` calls hold many tasks at once).
    let deadline: TaskDeadline?

    init(pool: ThreadPool, timeout: Duration? = nil, deadline: ContinuousClock.Instant? = nil, weight: Int = 1,
         split: (@Sendable (Value) -> Int)? = nil, _ work: @escaping @Sendable () throws -> Value) {
        self.work = work
        self.timeout = timeout
        self.pool = pool
        self.weight = weight
        self.split = split
        self.bounded = pool.configuration.maxPending != nil
        if let deadline {
            // TimeoutError carries a duration: the deadline's distance from schedule time.
            let budget = max(.zero, deadline - ContinuousClock.now)
            let timer = DispatchSource.makeTimerSource(queue: pool.timerQueue)
            timer.schedule(deadline: budget.deadlineFromNow)
            timer.setEventHandler { [future] in future.complete(.failure(TimeoutError(timeout: budget))) }
            self.deadline = TaskDeadline(instant: deadline, budget: budget, timer: SendableTimer(timer: timer))
        } else {
            self.deadline = nil
        }
        future.setOwner(self)
    }

    func armDeadline(accepted: Bool) {
        // A refused task's future is never shared and never completes: break its owner cycle.
        if !accepted { future.clearOwner() }
        guard let timer = deadline?.timer.timer else { return }
        if !accepted { timer.cancel() }
        // A source must be activated once before it is released; a cancelled one never fires.
        timer.resume()
    }

    func start(on counters: ThreadPool.Tally.Counters) -> Bool {
        // A worker may reach the task before its timer fires: a deadline already past wins.
        if let deadline, ContinuousClock.now >= deadline.instant {
            future.complete(.failure(TimeoutError(timeout: deadline.budget)))
            return false
        }
        guard future.markRunning() else { return false }
        startedOn.store(UInt(bitPattern: Unmanaged.passUnretained(counters).toOpaque()), ordering: .releasing)
        // Sequentially consistent, then the waiters read: see `enqueueWaitingForRoom`.
        counters.started.wrappingAdd(1, ordering: .sequentiallyConsistent)
        if bounded { pool.admitWaitersIfAny() }
        return true
    }

    func cancel() { future.cancel() }

    var isPending: Bool { !future.isRunning && !future.isDone }

    func execute() {
        let timer = timeout.map(armTimeout)
        let result = Result { try work() }
        timer?.cancel()
        deadline?.timer.timer.cancel()
        if let split, case .success(let value) = result { chunkFailures = split(value) }
        future.complete(result)
    }

    func fail(_ error: any Error) { future.complete(.failure(error)) }

    func recordCompletion(failure: (any Error)?, wasPending: Bool) {
        let bits = wasPending ? 0 : startedOn.load(ordering: .acquiring)
        let counters = bits == 0 ? pool.tally.shared
            : Unmanaged<ThreadPool.Tally.Counters>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!).takeUnretainedValue()
        if wasPending { counters.started.wrappingAdd(1, ordering: .sequentiallyConsistent) }
        if let failure {
            counters.record(failure, weight: weight)
        } else if chunkFailures >= 0 {
            counters.record(ok: weight - chunkFailures, failed: chunkFailures)
        } else {
            counters.record(ok: weight, failed: 0)
        }
    }

    func didComplete(wasPending: Bool) {
        deadline?.timer.timer.cancel()
        if wasPending && bounded { pool.admitWaitersIfAny() }
    }

    /// Fails the future with `TimeoutError` when `timeout` passes first; the thread runs on.
    private func armTimeout(_ timeout: Duration) -> any DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: pool.timerQueue)
        timer.schedule(deadline: timeout.deadlineFromNow)
        timer.setEventHandler { [future] in future.complete(.failure(TimeoutError(timeout: timeout))) }
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
