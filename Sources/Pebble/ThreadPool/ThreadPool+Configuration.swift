// SPDX-License-Identifier: Apache-2.0

extension ThreadPool {
    /// Everything a ``ThreadPool`` is created with, as a value.
    ///
    /// ```swift
    /// var configuration = ThreadPool.Configuration(maxWorkers: 8)
    /// configuration.maxPending = 1_000      // schedule throws .queueFull past 1,000 queued tasks
    /// let pool = try ThreadPool(configuration: configuration)
    /// ```
    public struct Configuration: Sendable {
        /// How many tasks may run at once; at least 1. Default: ``usableCPUCount()``.
        public var maxWorkers: Int
        /// After this many tasks a worker is replaced by a new one (0: never).
        public var maxTasks: Int = 0
        /// Runs once in each new worker before its first task. If it throws, the pool breaks.
        public var initializer: (@Sendable () throws -> Void)? = nil
        /// The most tasks (a `map` chunk counts as one) that may wait for a worker: past it,
        /// `schedule` and `map` throw `.queueFull` and the async `run` waits for room. `nil`: no bound.
        public var maxPending: Int? = nil
        /// How long a worker may stay idle before it ends; `nil` (the default): workers are kept.
        ///
        /// A worker is a slot's identity and its ``initializer`` state: one that ended has run its
        /// last task; the next task on that slot starts a new worker, which runs the initializer
        /// again and has a new ``ThreadPool/currentWorkerID``. Workers never end below
        /// ``minWorkers``, and new work starts them again on demand, up to ``maxWorkers``: no
        /// task fails because of it, and none waits longer than a worker start. (An idle worker
        /// holds no thread either way: its Dispatch queue gives the thread back when idle.)
        ///
        /// ```swift
        /// var configuration = ThreadPool.Configuration(maxWorkers: 8)
        /// configuration.idleTimeout = .seconds(30)   // drop idle connections after 30 s…
        /// configuration.minWorkers = 2                // …but keep two warm
        /// configuration.initializer = { try openConnection() }
        /// ```
        public var idleTimeout: Duration? = nil
        /// The fewest workers ``idleTimeout`` leaves; from 0 (the default) to ``maxWorkers``.
        /// Workers start on demand: this does not start any ahead of work.
        ///
        /// ```swift
        /// var configuration = ThreadPool.Configuration(maxWorkers: 4)
        /// configuration.idleTimeout = .seconds(10)
        /// configuration.minWorkers = 1
        /// ```
        public var minWorkers: Int = 0

        /// A configuration with `maxWorkers` workers and every other setting at its default.
        ///
        /// ```swift
        /// let configuration = ThreadPool.Configuration(maxWorkers: 2)
        /// ```
        public init(maxWorkers: Int = usableCPUCount()) {
            self.maxWorkers = maxWorkers
        }

        /// Throws `.invalidArgument` naming the first setting out of range.
        func validate() throws {
            guard maxWorkers >= 1 else { throw PebbleError.invalidArgument("maxWorkers", "must be at least 1, got \(maxWorkers)") }
            guard maxTasks >= 0 else { throw PebbleError.invalidArgument("maxTasks", "must be 0 (no limit) or more, got \(maxTasks)") }
            guard minWorkers >= 0 && minWorkers <= maxWorkers else {
                throw PebbleError.invalidArgument("minWorkers", "must be from 0 to maxWorkers (\(maxWorkers)), got \(minWorkers)")
            }
            if let idleTimeout, idleTimeout < .zero {
                throw PebbleError.invalidArgument("idleTimeout", "must not be negative (or nil: workers are kept), got \(idleTimeout)")
            }
            if let maxPending, maxPending < 0 {
                throw PebbleError.invalidArgument("maxPending", "must be 0 or more (or nil: no bound), got \(maxPending)")
            }
        }
    }
}
