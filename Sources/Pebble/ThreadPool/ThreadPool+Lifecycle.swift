// SPDX-License-Identifier: Apache-2.0
import Dispatch

extension ThreadPool {
    /// Waits, after ``close()`` or ``stop()``, until the pool's work is done, without blocking a
    /// thread: the async twin of the blocking `join(timeout:)`.
    ///
    /// After `stop()`, that includes closures still running (a thread cannot be stopped).
    /// Cancelling the awaiting Task makes this throw `CancellationError`; the pool is untouched.
    ///
    /// - Throws: `.poolStillRunning` if neither `close()` nor `stop()` was called,
    ///   `.wouldDeadlock` from inside one of the pool's own tasks, `.waitTimedOut` when `timeout`
    ///   runs out first, `.invalidArgument` for a negative timeout.
    ///
    /// ```swift
    /// pool.close()
    /// try await pool.join(timeout: .seconds(30))
    /// ```
    public func join(timeout: Duration? = nil) async throws {
        try validateTimeout(timeout)
        if state.withLock({ $0.machine.lifecycle == .running }) {
            throw PebbleError(.poolStillRunning, "join() needs close() or stop() first")
        }
        if isCurrentPool {
            throw PebbleError(.wouldDeadlock, "join() was called from one of this pool's own tasks; it would wait for itself")
        }
        guard try await activeDrains.waitAsync(timeout: timeout, cancellable: true) else {
            throw PebbleError.joinTimedOut(after: timeout)
        }
        state.withLock { $0.machine.joined() }
    }

    /// Shuts the pool down gracefully: ``close()``, then waits up to `gracePeriod` for queued and
    /// running work to finish; if it has not, ``stop()``: queued tasks are dropped (their futures
    /// fail with `CancellationError`) and running closures run on, but this returns at once.
    /// A cancelled Task, or a negative `gracePeriod`, skips the wait.
    ///
    /// ```swift
    /// await pool.shutdown(gracePeriod: .seconds(10))
    /// ```
    public func shutdown(gracePeriod: Duration) async {
        close()
        do {
            try await join(timeout: gracePeriod)
        } catch {
            stop()
        }
    }
}

/// Runs `body` with a new thread pool. When `body` returns, the pool is closed and joined (queued
/// work finishes); when it throws or the Task is cancelled, the pool is stopped (queued futures
/// fail with `CancellationError`), joined, and the error (or `CancellationError`) rethrown. It
/// returns only when no closure runs on the pool's threads any more; nothing blocks a thread.
///
/// ```swift
/// var configuration = ThreadPool.Configuration(maxWorkers: 4)
/// configuration.maxPending = 100
/// let total = try await withThreadPool(configuration: configuration) { pool in
///     try await pool.run { (1...1_000).reduce(0, +) }
/// }
/// ```
public func withThreadPool<R: Sendable>(
    configuration: ThreadPool.Configuration = .init(),
    isolation: isolated (any Actor)? = #isolation,
    _ body: (ThreadPool) async throws -> R
) async throws -> R {
    let pool = try ThreadPool(configuration: configuration)
    do {
        let result = try await withTaskCancellationHandler {
            try await body(pool)
        } onCancel: {
            pool.stop()
        }
        try Task.checkCancellation()
        pool.close()
        try await pool.join()
        return result
    } catch {
        pool.stop()
        await pool.activeDrains.waitAsync()
        pool.state.withLock { $0.machine.joined() }
        throw error
    }
}
