// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization

/// A scheduled closure with its future, type-erased for the pool's queue.
protocol AnyThreadTask: AnyObject, Sendable {
    /// Marks the task running; `false` when it was cancelled (or passed its deadline) while pending.
    func start() -> Bool
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
    let pool: ThreadPool
    let weight: Int
    /// For a map chunk: how many of its inputs succeeded and failed.
    let split: (@Sendable (Value) -> (ok: Int, failed: Int))?
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
        guard let deadlineTimer else { return }
        if !accepted { deadlineTimer.cancel() }
        // A source must be activated once before it is released; a cancelled one never fires.
        deadlineTimer.resume()
    }

    func start() -> Bool {
        // A worker may reach the task before its timer fires: a deadline already past wins.
        if let deadline, ContinuousClock.now >= deadline {
            future.complete(.failure(TimeoutError(timeout: deadlineBudget)))
            return false
        }
        guard future.markRunning() else { return false }
        pool.taskLeftQueue(started: true)
        return true
    }

    func cancel() { future.cancel() }

    var isPending: Bool { !future.isRunning && !future.isDone }

    func execute() {
        let timer = timeout.map(armTimeout)
        let result = Result { try work() }
        timer?.cancel()
        deadlineTimer?.cancel()
        future.complete(result)
    }

    func fail(_ error: any Error) { future.complete(.failure(error)) }

    func recordCompletion(_ outcome: Result<Value, any Error>, wasPending: Bool) {
        let tally = pool.tally
        if wasPending { tally.pending.wrappingSubtract(1, ordering: .sequentiallyConsistent) }
        switch outcome {
        case .success(let value):
            if let split {
                let (ok, failed) = split(value)
                tally.record(ok: ok, failed: failed)
            } else {
                tally.record(ok: weight, failed: 0)
            }
        case .failure(let error):
            tally.record(error, weight: weight)
        }
    }

    func didComplete(wasPending: Bool) {
        deadlineTimer?.cancel()
        if wasPending { pool.taskLeftQueue(started: false) }
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
