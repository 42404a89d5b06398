// SPDX-License-Identifier: Apache-2.0
/// A task ran past its timeout and was stopped.
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
    /// Creates the error for a task that exceeded `timeout`.
    ///
    /// ```swift
    /// let error = TimeoutError(timeout: .seconds(2))
    /// ```
    public init(timeout: Duration) { self.timeout = timeout }
    /// A sentence naming the timeout.
    ///
    /// ```swift
    /// print(TimeoutError(timeout: .seconds(2)))
    /// // TimeoutError: the task ran past its timeout of 2.0 seconds and was stopped
    /// ```
    public var description: String { "TimeoutError: the task ran past its timeout of \(timeout) and was stopped" }
}
