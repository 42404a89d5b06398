// SPDX-License-Identifier: Apache-2.0
/// A task ran past its timeout and was stopped, or its deadline passed before any worker took it.
///
/// ```swift
/// let future = try pool.schedule(Sleep(seconds: 10), timeout: .milliseconds(100))
/// if let error = try future.error() as? TimeoutError { print(error.timeout) }
/// ```
public struct TimeoutError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The timeout the task exceeded.
    ///
    /// ```swift
    /// if let error = try future.error() as? TimeoutError { print("gave up after", error.timeout) }
    /// ```
    public let timeout: Duration
    /// Whether a worker had taken the task when the time ran out: `true` when it ran and was
    /// stopped (or, in a thread pool, its future failed while the closure ran on); `false` when
    /// it expired while still queued and never ran.
    ///
    /// ```swift
    /// if let error = try future.error() as? TimeoutError, !error.wasRunning {
    ///     print("never started: the pool is too busy")
    /// }
    /// ```
    public let wasRunning: Bool
    /// Creates the error for a task that exceeded `timeout`; `wasRunning: false` for one whose
    /// time ran out before a worker took it.
    ///
    /// ```swift
    /// let error = TimeoutError(timeout: .seconds(2))
    /// let queued = TimeoutError(timeout: .seconds(2), wasRunning: false)
    /// ```
    public init(timeout: Duration, wasRunning: Bool = true) {
        self.timeout = timeout
        self.wasRunning = wasRunning
    }
    /// A sentence naming the timeout, and whether the task had started.
    ///
    /// ```swift
    /// print(TimeoutError(timeout: .seconds(2)))
    /// // TimeoutError: the task ran past its timeout of 2.0 seconds and was stopped
    /// print(TimeoutError(timeout: .seconds(2), wasRunning: false))
    /// // TimeoutError: the task's timeout of 2.0 seconds expired before it started; it never ran
    /// ```
    public var description: String {
        wasRunning
            ? "TimeoutError: the task ran past its timeout of \(timeout) and was stopped"
            : "TimeoutError: the task's timeout of \(timeout) expired before it started; it never ran"
    }
}
