// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization

/// A scheduled closure with its future, type-erased for the pool's queue.
protocol AnyThreadTask: AnyObject, Sendable {
    /// Marks the task running; `false` when it was cancelled while pending.
    func start() -> Bool
    /// Cancels the task if it has not started.
    func cancel()
    /// Whether it has neither started nor been cancelled.
    var isPending: Bool { get }
    func execute()
    func fail(_ error: any Error)
}

final class ThreadTask<Value: Sendable>: AnyThreadTask {
    let future = Future<Value>()
    let work: @Sendable () throws -> Value
    let timeout: Duration?

    init(timeout: Duration? = nil, _ work: @escaping @Sendable () throws -> Value) {
        self.work = work
        self.timeout = timeout
    }

    func start() -> Bool { future.markRunning() }

    func cancel() { future.cancel() }

    var isPending: Bool { !future.isRunning && !future.isDone }

    func execute() {
        let timer = timeout.map(armTimeout)
        future.complete(Result { try work() })
        timer?.cancel()
    }

    func fail(_ error: any Error) { future.complete(.failure(error)) }

    /// Fails the future with `TimeoutError` when `timeout` passes first; the thread runs on.
    private func armTimeout(_ timeout: Duration) -> any DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: timeout.deadlineFromNow)
        timer.setEventHandler { [future] in future.complete(.failure(TimeoutError(timeout: timeout))) }
        timer.resume()
        return timer
    }
}
