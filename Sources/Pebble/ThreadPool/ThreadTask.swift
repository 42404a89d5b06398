// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization

/// A scheduled closure with its future, type-erased for the pool's queue.
protocol AnyThreadTask: AnyObject, Sendable {
    /// Marks the task running on worker `worker`; `false` when it was cancelled (or passed its
    /// deadline) while pending.
    func start(worker: Int) -> Bool
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
    /// (`discard()`) never touches it.
    unowned(unsafe) let pool: ThreadPool
    let weight: Int
    /// For a map chunk: how many of its inputs succeeded and failed.
    let split: (@Sendable (Value) -> (ok: Int, failed: Int))?
    /// `split` of the value, worked out by `execute` before it completes the future.
    /// `nonisolated(unsafe)`: written and then read by the same thread (the worker that completes
    /// the future with a value; only `execute` completes it with one).
    nonisolated(unsafe) var splitCounts: (ok: Int, failed: Int)?
    /// The worker that started the task, whose counters its outcome goes to.
    /// `nonisolated(unsafe)`: written by that worker before `markRunning`, read under the future's
    /// lock after it, by whichever thread completes the running task.
    nonisolated(unsafe) var worker = 0
    /// Fails the future at the deadline; armed by the pool once it accepted the task.
    /// `nonisolated(unsafe)`: set once in `init`; a Dispatch source is thread-safe to resume and
    /// cancel from any thread.
    nonisolated(unsafe) let deadlineTimer: (any DispatchSourceTimer)?
    let deadline: ContinuousClock.Instant?
    /// The deadline's distance from schedule time, the `timeout` of its ``TimeoutError``.
    let deadlineBudget: Duration

    init(pool: ThreadPool, timeout: Duration? = nil, deadline: ContinuousClock.Instant? = nil, weight: Int = 1,
         split: (@Sendable (Value) -> (ok: Int, failed: Int))? = nil, _ work: @escaping @Sendable () throws -> Value) {
        self.work = work
        self.timeout = timeout
        self.pool = pool
        self.weight = weight
        self.split = split
        self.deadline = deadline
        // TimeoutError carries a duration: the deadline's distance from schedule time.
        let budget = deadline.map { max(.zero, $0 - ContinuousClock.now) } ?? .zero
        self.deadlineBudget = budget
        if deadline != nil {
            let timer = DispatchSource.makeTimerSource(queue: pool.timerQueue)
            timer.schedule(deadline: budget.deadlineFromNow)
            timer.setEventHandler { [future] in future.complete(.failure(TimeoutError(timeout: budget))) }
            deadlineTimer = timer
        } else {
            deadlineTimer = nil
        }
        future.setOwner(self)
    }

    func armDeadline(accepted: Bool) {
        // A refused task's future is never shared and never completes: break its owner cycle.
        if !accepted { future.clearOwner() }
        guard let deadlineTimer else { return }
        if !accepted { deadlineTimer.cancel() }
        // A source must be activated once before it is released; a cancelled one never fires.
        deadlineTimer.resume()
    }

    func start(worker: Int) -> Bool {
        // A worker may reach the task before its timer fires: a deadline already past wins.
        if let deadline, ContinuousClock.now >= deadline {
            future.complete(.failure(TimeoutError(timeout: deadlineBudget)))
            return false
        }
        self.worker = worker
        guard future.markRunning() else { return false }
        pool.taskLeftQueue(startedOn: worker)
        return true
    }

    func cancel() { future.cancel() }

    var isPending: Bool { !future.isRunning && !future.isDone }

    func execute() {
        let timer = timeout.map(armTimeout)
        let result = Result { try work() }
        timer?.cancel()
        deadlineTimer?.cancel()
        if let split, case .success(let value) = result { splitCounts = split(value) }
        future.complete(result)
    }

    func fail(_ error: any Error) { future.complete(.failure(error)) }

    func recordCompletion(failure: (any Error)?, wasPending: Bool) {
        let tally = pool.tally
        let counters = wasPending ? tally.shared : tally.workers[worker]
        if wasPending { counters.started.wrappingAdd(1, ordering: .sequentiallyConsistent) }
        if let failure {
            counters.record(failure, weight: weight)
        } else if let (ok, failed) = splitCounts {
            counters.record(ok: ok, failed: failed)
        } else {
            counters.record(ok: weight, failed: 0)
        }
    }

    func didComplete(wasPending: Bool) {
        deadlineTimer?.cancel()
        if wasPending { pool.taskLeftQueue(startedOn: nil) }
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
