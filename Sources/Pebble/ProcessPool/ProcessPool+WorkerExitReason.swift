// SPDX-License-Identifier: Apache-2.0

extension ProcessPool {
    /// Why a worker process exited, as ``ProcessPool/Event/workerExited(pid:status:reason:)`` reports it.
    /// New reasons may be added in later versions.
    ///
    /// ```swift
    /// for await event in pool.events {
    ///     if case .workerExited(let pid, _, .crashed) = event { log.warning("worker \(pid) crashed") }
    /// }
    /// ```
    public struct WorkerExitReason: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The reason's name, such as `crashed`.
        ///
        /// ```swift
        /// print(ProcessPool.WorkerExitReason.crashed)   // crashed
        /// ```
        public var description: String { name }

        /// It reached `maxTasks`, or the pool closed and no longer needed it.
        ///
        /// ```swift
        /// if reason == .retired { retiredCount += 1 }
        /// ```
        public static let retired = WorkerExitReason("retired")
        /// Its resident memory was above `maxResidentMemory` after a task.
        ///
        /// ```swift
        /// if reason == .memoryLimit { metrics.increment("pebble.worker.memory_recycled") }
        /// ```
        public static let memoryLimit = WorkerExitReason("memoryLimit")
        /// It was killed because its task ran past its timeout or deadline.
        ///
        /// ```swift
        /// if reason == .timedOut { metrics.increment("pebble.task.timeout") }
        /// ```
        public static let timedOut = WorkerExitReason("timedOut")
        /// It was killed because its running task was cancelled.
        ///
        /// ```swift
        /// if reason == .cancelled { print("a running task was cancelled") }
        /// ```
        public static let cancelled = WorkerExitReason("cancelled")
        /// It was killed by `stop()` (or because it broke the protocol).
        ///
        /// ```swift
        /// if reason == .stopped { print("pool stopped") }
        /// ```
        public static let stopped = WorkerExitReason("stopped")
        /// It died while running a task (crash, signal, `exit`).
        ///
        /// ```swift
        /// if reason == .crashed { metrics.increment("pebble.worker.crash") }
        /// ```
        public static let crashed = WorkerExitReason("crashed")
        /// It died between tasks or before it was ready (killed from outside, say).
        ///
        /// ```swift
        /// if reason == .diedIdle { print("an idle worker died; it was replaced") }
        /// ```
        public static let diedIdle = WorkerExitReason("diedIdle")
        /// It waited for a task longer than the pool's `idleTimeout`, with more than `minWorkers`
        /// workers serving; the pool starts workers again when work comes.
        ///
        /// ```swift
        /// if reason == .idle { metrics.decrement("pebble.workers") }
        /// ```
        public static let idle = WorkerExitReason("idle")
    }
}
