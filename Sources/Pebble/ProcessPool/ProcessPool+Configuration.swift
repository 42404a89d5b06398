// SPDX-License-Identifier: Apache-2.0

extension ProcessPool {
    /// Everything a ``ProcessPool`` is created with, as a value you can build, store and log.
    ///
    /// ```swift
    /// var configuration = ProcessPool.Configuration(maxWorkers: 4)
    /// configuration.maxTasks = 500                    // recycle leaky workers
    /// configuration.maxPending = 64                   // shed load past 64 queued tasks
    /// configuration.terminationGracePeriod = .seconds(1)
    /// let pool = try ProcessPool(configuration: configuration)
    /// ```
    public struct Configuration: Sendable {
        /// How many worker processes may run at once; at least 1. Default: ``usableCPUCount()``.
        public var maxWorkers: Int
        /// A worker exits and is replaced after this many tasks (0: never).
        public var maxTasks: Int = 0
        /// A job each new worker runs before its first task. If it throws, or the worker dies in
        /// it, the pool breaks: pending futures fail with `.initializerFailed`.
        public var initializer: (any ProcessJob)? = nil
        /// The largest job or output message in bytes, each way; at least 1024.
        public var maxMessageSize: Int = 1 << 30
        /// `nil` stops workers with SIGKILL at once; a duration sends SIGTERM first and SIGKILL
        /// after it.
        public var terminationGracePeriod: Duration? = nil
        /// The process name of the workers (15 characters at most are kept).
        public var workerName: String? = nil
        /// How workers start; see ``ProcessPool/StartMethod``.
        public var startMethod: StartMethod = .zygote
        /// The most tasks (a `map` chunk counts as one) that may wait for a worker: past it,
        /// `schedule` and `map` throw `.queueFull` and the async `run` waits for room. `nil`: no bound.
        public var maxPending: Int? = nil
        /// Resource limits set in every worker before its first task; never in your process.
        public var limits: ResourceLimits = .none
        /// Bytes of resident memory above which a worker is replaced after the task it just ran
        /// (that task's outcome is delivered normally). `nil`: no check.
        public var maxResidentMemory: Int? = nil
        /// Where workers' stdout and stderr go; see ``WorkerOutput``.
        public var workerOutput: WorkerOutput = .inherit
        /// Whether each task's CPU time and peak resident memory are measured in its worker and
        /// reported as ``Future/resourceUsage`` (and, for a worker that died, as
        /// ``ProcessExpired/resourceUsage``). Off by default: then nothing is measured.
        ///
        /// ```swift
        /// var configuration = ProcessPool.Configuration(maxWorkers: 4)
        /// configuration.recordsResourceUsage = true
        /// let pool = try ProcessPool(configuration: configuration)
        /// let future = try pool.schedule(Render(page: 7))
        /// _ = try future.get()
        /// print(future.resourceUsage!)   // user 0.3 s, system 10 ms, peak 212 MiB
        /// ```
        public var recordsResourceUsage = false
        /// How long a worker may wait for a task before it ends (event reason
        /// ``ProcessPool/WorkerExitReason/idle``), as long as more than ``minWorkers`` workers
        /// serve; new work starts workers again, up to ``maxWorkers``. `nil` (the default): the pool
        /// keeps ``maxWorkers`` workers from its first task on.
        ///
        /// ```swift
        /// var configuration = ProcessPool.Configuration(maxWorkers: 8)
        /// configuration.idleTimeout = .seconds(30)   // an idle server costs no processes…
        /// configuration.minWorkers = 1               // …but one, for the first request
        /// ```
        public var idleTimeout: Duration? = nil
        /// The fewest workers kept while the pool runs, when ``idleTimeout`` is set; from 0 (the
        /// default) to ``maxWorkers``.
        ///
        /// ```swift
        /// var configuration = ProcessPool.Configuration(maxWorkers: 8)
        /// configuration.idleTimeout = .seconds(30)
        /// configuration.minWorkers = 2
        /// ```
        public var minWorkers: Int = 0

        /// A configuration with `maxWorkers` workers and every other setting at its default.
        ///
        /// ```swift
        /// let configuration = ProcessPool.Configuration(maxWorkers: 2)
        /// ```
        public init(maxWorkers: Int = usableCPUCount()) {
            self.maxWorkers = maxWorkers
        }

        /// Throws `.invalidArgument` naming the first setting out of range.
        func validate() throws {
            guard maxWorkers >= 1 else { throw PebbleError.invalidArgument("maxWorkers", "must be at least 1, got \(maxWorkers)") }
            guard maxTasks >= 0 else { throw PebbleError.invalidArgument("maxTasks", "must be 0 (no limit) or more, got \(maxTasks)") }
            guard maxMessageSize >= 1024 else {
                throw PebbleError.invalidArgument("maxMessageSize", "must be at least 1024 bytes, got \(maxMessageSize)")
            }
            try validateTimeout(terminationGracePeriod, name: "terminationGracePeriod")
            if let maxPending, maxPending < 0 {
                throw PebbleError.invalidArgument("maxPending", "must be 0 or more (or nil: no bound), got \(maxPending)")
            }
            if let maxResidentMemory, maxResidentMemory < 1 {
                throw PebbleError.invalidArgument("maxResidentMemory", "must be a positive number of bytes, got \(maxResidentMemory)")
            }
            try validateTimeout(idleTimeout, name: "idleTimeout")
            guard minWorkers >= 0 && minWorkers <= maxWorkers else {
                throw PebbleError.invalidArgument("minWorkers", "must be from 0 to maxWorkers (\(maxWorkers)), got \(minWorkers)")
            }
            try limits.validate()
        }
    }
}
