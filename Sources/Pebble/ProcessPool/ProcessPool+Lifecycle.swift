// SPDX-License-Identifier: Apache-2.0
import Dispatch

extension ProcessPool {
    /// Waits, after ``close()`` or ``stop()``, until every task is done and every worker has
    /// exited, without blocking a thread: the async twin of the blocking `join(timeout:)`.
    ///
    /// The pool's group of live workers signals a continuation (`notify`); a Dispatch timer on a
    /// queue of Pebble's own covers the timeout. Cancelling the awaiting Task makes this throw
    /// `CancellationError`; the pool is untouched.
    ///
    /// - Throws: `.poolStillRunning` if neither was called, `.waitTimedOut` when `timeout` runs
    ///   out first, `.invalidArgument` for a negative timeout.
    ///
    /// ```swift
    /// pool.close()
    /// try await pool.join(timeout: .seconds(30))
    /// ```
    public func join(timeout: Duration? = nil) async throws {
        try validateTimeout(timeout)
        if core.state.withLock({ $0.machine.lifecycle == .running }) {
            throw PebbleError(.poolStillRunning, "join() needs close() or stop() first")
        }
        guard try await core.liveWorkers.waitAsync(timeout: timeout, cancellable: true) else {
            throw PebbleError.joinTimedOut(after: timeout)
        }
        // Every worker is gone, so this returns at once; it marks the pool joined.
        try core.join(timeout: .zero)
    }

    /// Stops the pool now, as the blocking `stop()` does (running jobs are stopped, queued jobs
    /// never run, every unfinished future fails with `CancellationError`), and returns once every
    /// worker is dead and reaped, without blocking a thread meanwhile. Not cancellable: it always
    /// waits for the reaping.
    ///
    /// ```swift
    /// await pool.stop()
    /// ```
    public func stop() async {
        core.beginStop()
        await core.liveWorkers.waitAsync()
    }

    /// Shuts the pool down gracefully: ``close()``, then waits up to `gracePeriod` for queued and
    /// running jobs to finish; if they have not, ``stop()-swift.method``: the rest are stopped and
    /// fail with `CancellationError`. Returns once every worker is reaped. A cancelled Task, or a
    /// negative `gracePeriod`, skips the wait.
    ///
    /// ```swift
    /// await pool.shutdown(gracePeriod: .seconds(10))
    /// ```
    public func shutdown(gracePeriod: Duration) async {
        close()
        do {
            try await join(timeout: gracePeriod)
        } catch {
            await stop()
            try? core.join(timeout: .zero)
        }
    }
}

/// Runs `body` with a new process pool. When `body` returns, the pool is closed and joined
/// (queued jobs finish); when it throws or the Task is cancelled, the pool is stopped (every
/// unfinished future fails), joined, and the error (or `CancellationError`) rethrown. It returns
/// only when every worker is reaped; nothing blocks a thread.
///
/// ```swift
/// var configuration = ProcessPool.Configuration(maxWorkers: 2)
/// configuration.maxPending = 100
/// let square = try await withProcessPool(configuration: configuration) { pool in
///     try await pool.run(Square(n: 12))
/// }
/// ```
public func withProcessPool<R: Sendable>(
    configuration: ProcessPool.Configuration = .init(),
    isolation: isolated (any Actor)? = #isolation,
    _ body: (ProcessPool) async throws -> R
) async throws -> R {
    let pool = try ProcessPool(configuration: configuration)
    do {
        let result = try await withTaskCancellationHandler {
            try await body(pool)
        } onCancel: {
            pool.core.beginStop()
        }
        try Task.checkCancellation()
        pool.close()
        try await pool.join()
        return result
    } catch {
        await pool.stop()
        try? pool.core.join(timeout: .zero)
        throw error
    }
}
