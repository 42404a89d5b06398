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
    /// With ``WorkerOutput/capture``: the last (up to) 4 KiB the worker wrote to its standard error
    /// while it ran the task that died, such as the Swift runtime's `Fatal error: Index out of range`
    /// or a C library's message. `nil` without capture, or when the task wrote nothing there.
    ///
    /// ```swift
    /// if let expired = try future.error() as? ProcessExpired, let tail = expired.diagnostics {
    ///     logger.error("job crashed: \(tail)")
    /// }
    /// ```
    public private(set) var diagnostics: String?
    /// With ``ProcessPool/Configuration/recordsResourceUsage``: what the dead worker used, from its
    /// rusage when it was reaped — its CPU time since the end of the last task it reported (over
    /// its life if it reported none), and its peak resident set (`ru_maxrss`): at least the peak of
    /// the task it died in, possibly an earlier one of the same worker — so the input that blew up
    /// shows. The peak is `nil` for a worker started with ``ProcessPool/StartMethod/spawn`` whose
    /// peak did not exceed the pool process's own at the worker's start (exec carries that into the
    /// worker's `ru_maxrss`, so the two cannot be told apart). `nil` with the setting off, or where
    /// the pool could not learn the dead worker's usage (a worker that was not the pool's or the
    /// zygote's to reap).
    ///
    /// ```swift
    /// if let expired = try future.error() as? ProcessExpired, let usage = expired.resourceUsage {
    ///     logger.error("worker died at \(usage.peakResidentMemory ?? 0) bytes after \(usage.userTime) of CPU")
    /// }
    /// ```
    public internal(set) var resourceUsage: ResourceUsage?

    /// Creates the error for a worker that died.
    ///
    /// ```swift
    /// let error = ProcessExpired(pid: 4242, exitCode: nil, signal: SIGSEGV)
    /// ```
    public init(pid: Int32, exitCode: Int32?, signal: Int32?) {
        self.init(pid: pid, exitCode: exitCode, signal: signal, diagnostics: nil)
    }

    /// Creates the error for a worker that died, with the end of what it wrote to stderr.
    ///
    /// ```swift
    /// let error = ProcessExpired(pid: 4242, exitCode: nil, signal: SIGILL,
    ///                            diagnostics: "Fatal error: Index out of range")
    /// ```
    public init(pid: Int32, exitCode: Int32?, signal: Int32?, diagnostics: String?) {
        self.pid = pid
        self.exitCode = exitCode
        self.signal = signal
        self.diagnostics = diagnostics
    }

    /// A sentence with the pid and the exit status or the signal, then the ``diagnostics`` if any.
    ///
    /// ```swift
    /// print(ProcessExpired(pid: 4242, exitCode: 3, signal: nil))
    /// // ProcessExpired: worker 4242 exited with status 3 while running the task
    /// print(ProcessExpired(pid: 4242, exitCode: nil, signal: 4, diagnostics: "Fatal error: Index out of range\n"))
    /// // ProcessExpired: worker 4242 was killed by signal 4 while running the task; its stderr ended with:
    /// // Fatal error: Index out of range
    /// ```
    public var description: String {
        let death = signal.map { "was killed by signal \($0)" } ?? "exited with status \(exitCode ?? -1)"
        var text = "ProcessExpired: worker \(pid) \(death) while running the task"
        if let diagnostics {
            var tail = Substring(diagnostics)
            while let last = tail.last, last.isWhitespace { tail = tail.dropLast() }
            if !tail.isEmpty { text += "; its stderr ended with:\n" + tail }
        }
        return text
    }
}
