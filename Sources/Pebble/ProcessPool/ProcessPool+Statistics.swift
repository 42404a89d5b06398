// SPDX-License-Identifier: Apache-2.0

extension ProcessPool {
    /// A snapshot of what the pool is doing and has done, for metrics and health checks.
    ///
    /// The outcome counters are exact once the futures they count are done: after `join`,
    /// `completed + failed + timedOut + crashed + cancelled` equals the number of tasks scheduled
    /// (a `map` counts its inputs). `pending` and `running` count tasks (a `map` chunk is one).
    ///
    /// ```swift
    /// let stats = pool.statistics
    /// gauge("pebble.pending", stats.pending); counter("pebble.crashed", stats.crashed)
    /// ```
    public struct Statistics: Sendable, Hashable {
        /// Tasks no worker has taken: queued, or offered on the feed. `maxPending` bounds this.
        public var pending: Int
        /// Tasks a worker took and is running: those whose ``Future/isRunning`` is true.
        public var running: Int
        /// Live worker processes.
        public var workers: Int
        /// Workers ready and waiting for a task.
        public var idleWorkers: Int
        /// Tasks (map inputs) that finished with a value.
        public var completed: Int
        /// Tasks whose job threw, or whose job or output could not be encoded or decoded.
        public var failed: Int
        /// Tasks stopped by their timeout or deadline.
        public var timedOut: Int
        /// Tasks whose worker died while running them (``ProcessExpired``).
        public var crashed: Int
        /// Tasks cancelled, by `cancel()`, a cancelled awaiting Task, or `stop()`.
        public var cancelled: Int
        /// Worker processes started so far.
        public var workersStarted: Int
        /// Worker processes that exited so far.
        public var workersExited: Int
    }

    /// What the pool is doing now, and the outcomes so far.
    ///
    /// ```swift
    /// print("queue depth:", pool.statistics.pending)
    /// ```
    public var statistics: Statistics {
        let outcomes = core.counters.withLock { $0 }
        return core.state.withLock { locked in
            let waiting = locked.machine.waiting, running = locked.machine.running
            let idle = locked.machine.workers.values.count { $0.isIdle }
            return Statistics(pending: waiting, running: running,
                              workers: locked.machine.workers.count, idleWorkers: idle,
                              completed: outcomes.completed, failed: outcomes.failed, timedOut: outcomes.timedOut,
                              crashed: outcomes.crashed, cancelled: outcomes.cancelled,
                              workersStarted: locked.machine.workersStarted, workersExited: locked.machine.workersExited)
        }
    }
}
