// SPDX-License-Identifier: Apache-2.0

extension ProcessPool {
    /// A snapshot of what the pool is doing and has done, for metrics and health checks.
    ///
    /// The outcome counters are exact once the futures they count are done: after `join`,
    /// `completed + failed + timedOut + crashed + cancelled` equals the number of tasks scheduled
    /// (a `map` counts its inputs). `pending` and `running` count tasks (a `map` chunk is one).
    /// It is `Codable`, so a server's `/stats` route can return it as JSON (durations in seconds).
    ///
    /// ```swift
    /// let stats = pool.statistics
    /// gauge("pebble.pending", stats.pending); counter("pebble.crashed", stats.crashed)
    /// gauge("pebble.wait.p99", stats.waitTime.p99)
    /// let json = try JSONEncoder().encode(stats)
    /// ```
    public struct Statistics: Sendable, Hashable, Codable {
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
        /// Async `run` calls waiting for room in a full queue (`maxPending`).
        ///
        /// ```swift
        /// if pool.statistics.waitingForRoom > 0 { log.notice("callers are waiting: the pool is saturated") }
        /// ```
        public var waitingForRoom: Int
        /// From `schedule` (or `map`, `run`) until a worker took the task, over the pool's life, for
        /// every task a worker took (a `map` chunk is one). The take time is the worker's own: it
        /// writes it on the pool's task board as it takes the task, and the pool reads it when the
        /// outcome arrives (or the worker dies), so a task's wait and run add up to the time from
        /// its schedule to its outcome.
        ///
        /// ```swift
        /// let wait = pool.statistics.waitTime
        /// print("p50 \(wait.p50), p99 \(wait.p99) over \(wait.count) tasks")
        /// ```
        public var waitTime: LatencySummary
        /// From a worker's take until the task's outcome reached the pool, whatever the outcome:
        /// a value, an error, or the death of its worker (a task the pool stopped, for a timeout
        /// or a cancel, runs until its worker is gone).
        ///
        /// ```swift
        /// if pool.statistics.runTime.p99 > .seconds(2) { alert("slow jobs") }
        /// ```
        public var runTime: LatencySummary
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
            return Statistics(
                pending: waiting, running: running,
                workers: locked.machine.workers.count, idleWorkers: idle,
                completed: outcomes.completed, failed: outcomes.failed, timedOut: outcomes.timedOut,
                crashed: outcomes.crashed, cancelled: outcomes.cancelled,
                workersStarted: locked.machine.workersStarted, workersExited: locked.machine.workersExited,
                waitingForRoom: locked.roomWaiters.count,
                waitTime: locked.machine.waitTimes.summary, runTime: locked.machine.runTimes.summary)
        }
    }
}
