// SPDX-License-Identifier: Apache-2.0
/// The worker process died while it ran the task: a crash, a signal or an `exit` call.
///
/// ```swift
/// if let expired = try future.error() as? ProcessExpired {
///     print(expired.pid, expired.exitCode ?? -1, expired.signal ?? 0)
/// }
/// ```
public struct ProcessExpired: Error, Hashable, Sendable, CustomStringConvertible {
    /// The pid of the worker that died.
    ///
    /// ```swift
    /// if let expired = try future.error() as? ProcessExpired { print("worker", expired.pid, "died") }
    /// ```
    public let pid: Int32
    /// The exit status when the process exited, `nil` when a signal killed it.
    ///
    /// ```swift
    /// if let code = expired.exitCode { print("the worker called exit(\(code))") }
    /// ```
    public let exitCode: Int32?
    /// The signal that killed the process, `nil` when it exited.
    ///
    /// ```swift
    /// if expired.signal == SIGKILL { print("killed, perhaps by the OOM killer") }
    /// ```
    public let signal: Int32?

    /// Creates the error for a worker that died.
    ///
    /// ```swift
    /// let error = ProcessExpired(pid: 4242, exitCode: nil, signal: SIGSEGV)
    /// ```
    public init(pid: Int32, exitCode: Int32?, signal: Int32?) {
        self.pid = pid
        self.exitCode = exitCode
        self.signal = signal
    }

    /// A sentence with the pid and the exit status or the signal.
    ///
    /// ```swift
    /// print(ProcessExpired(pid: 4242, exitCode: 3, signal: nil))
    /// // ProcessExpired: worker 4242 exited with status 3 while running the task
    /// ```
    public var description: String {
        if let signal { return "ProcessExpired: worker \(pid) was killed by signal \(signal) while running the task" }
        return "ProcessExpired: worker \(pid) exited with status \(exitCode ?? -1) while running the task"
    }
}
