// SPDX-License-Identifier: Apache-2.0

extension ProcessPool {
    /// Something that happened to the pool's workers.
    ///
    /// ```swift
    /// for await event in pool.events {
    ///     switch event {
    ///     case .workerStarted(let pid): log.info("worker \(pid) started")
    ///     case .workerExited(let pid, let status, let reason): log.info("worker \(pid) \(reason): \(String(describing: status))")
    ///     }
    /// }
    /// ```
    public enum Event: Sendable, Hashable {
        /// A worker process started.
        case workerStarted(pid: Int32)
        /// A worker process exited; `status` is `nil` when it could not be known.
        case workerExited(pid: Int32, status: TerminationStatus?, reason: WorkerExitReason)
    }

    /// The pool's events from now on: each access is a new stream. A stream keeps the newest 1,024
    /// events it has not delivered, so one nobody reads never grows without bound, and sending to
    /// it never slows the pool. Streams end when the pool is joined.
    ///
    /// ```swift
    /// let events = pool.events
    /// Task { for await event in events { print(event) } }
    /// ```
    public var events: AsyncStream<Event> { core.events.stream() }
}
