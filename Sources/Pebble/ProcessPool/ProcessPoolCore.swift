// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The owner behind a ``ProcessPool``: its ``ProcessPoolStateMachine`` and the live objects the
/// machine refers to by pid or number (worker processes, timeout timers, waiting `run` calls), all
/// under one lock, plus the pool's task feed and task board. Every event goes through
/// ``decide(_:)``: the machine decides under the lock, the bookkeeping that must be atomic with the
/// decision (entering `liveWorkers` for a spawn, keeping timers, completing a withdrawn future)
/// happens under it too, and the ``Step``s (sends, kills, spawns, failed futures) are performed
/// after it is released. The core decides nothing itself.
final class ProcessPoolCore: WorkerEvents {
    struct Locked {
        var machine: ProcessPoolStateMachine
        var processes: [pid_t: WorkerProcess] = [:]
        /// Timeout timers of taken tasks, by offering sequence.
        var timers: [UInt64: any DispatchSourceTimer] = [:]
        /// Async `run` calls waiting for room in a full queue, by id (the machine keeps their order).
        var roomWaiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
        var nextWaiterID: UInt64 = 0
        /// With `recordsResourceUsage`: each worker's last ``UsageReport`` (for the task it dies
        /// in, if it does), and a report whose outcome is still to come in a later read.
        var lastUsage: [pid_t: UsageReport] = [:]
        var carriedUsage: [pid_t: UsageReport] = [:]
    }

    let configuration: ProcessPool.Configuration
    /// The hello every new worker gets, around its ``WorkerIdentity``: the message limit and the
    /// ``WorkerSettings`` before it, the initializer (if any) after it.
    let helloHead: [UInt8]
    let helloTail: [UInt8]
    let feed: TaskFeed
    let board: ClaimBoard
    // Locked holds DispatchSource timers, which are not Sendable in corelibs-dispatch; they are
    // only created, resumed and cancelled, which Dispatch allows from any thread.
    let state: StateLock<Locked>
    /// Entered for every worker from the moment its spawn is decided until it is reaped.
    let liveWorkers = DispatchGroup()
    /// Timeouts, deadlines, take checks, spawn backoffs and kill escalations fire here: never on a
    /// global queue, which blocked user code could starve, and never on a worker's queue.
    let timerQueue = DispatchQueue(label: "pebble.process-pool.timers")
    /// Where every worker's queue runs: the pool's replies and exits are handled one at a time on
    /// one thread, so the handlers of two workers never contend for the pool's lock (measured:
    /// with a queue each, a third of the parent's CPU went to spinning on that lock).
    let channelQueue = DispatchQueue(label: "pebble.process-pool.channels")
    let counters = StateLock(OutcomeCounters())
    let events = EventBroadcaster<ProcessPool.Event>()

    init(configuration: ProcessPool.Configuration, helloHead: [UInt8], helloTail: [UInt8]) throws {
        try EventLoop.start()
        self.configuration = configuration
        self.helloHead = helloHead
        self.helloTail = helloTail
        var settings = ProcessPoolStateMachine.Settings(
            maxWorkers: configuration.maxWorkers, maxTasks: configuration.maxTasks,
            hasInitializer: configuration.initializer != nil, maxPending: configuration.maxPending)
        settings.idleTimeout = configuration.idleTimeout
        settings.minWorkers = configuration.minWorkers
        feed = try TaskFeed(inlineLimit: settings.inlineLimit)
        board = try ClaimBoard()
        state = StateLock(Locked(machine: ProcessPoolStateMachine(settings: settings, board: board)))
    }

    /// The hello for the worker at board index `index`.
    func hello(index: Int) -> [UInt8] {
        var body = helloHead
        WorkerIdentity(index: index, maxTasks: configuration.maxTasks).encode(into: &body)
        return Frame.make(.hello, body + helloTail)
    }

    // MARK: - Calls from the pool

    func checkAcceptsWork(adding count: Int = 1) throws {
        try state.withLock { try $0.machine.checkAcceptsWork(adding: count) }
    }

    func enqueue(_ tasks: [any AnyProcessTask]) throws {
        perform(try decide { try $0.enqueue(tasks) })
    }

    func close() {
        perform(decide { $0.close() })
    }

    /// Stops every worker and fails every unfinished future; returns once every worker is reaped.
    func stop() {
        beginStop()
        liveWorkers.wait()
    }

    /// The part of ``stop()`` that does not wait.
    func beginStop() {
        perform(decide { $0.stop() })
    }

    func join(timeout: Duration?) throws {
        let lifecycle = state.withLock { $0.machine.lifecycle }
        if lifecycle == .running {
            throw PebbleError(.poolStillRunning, "join() needs close() or stop() first")
        }
        if liveWorkers.wait(timeout: deadline(after: timeout)) == .timedOut {
            throw PebbleError.joinTimedOut(after: timeout)
        }
        state.withLock { $0.machine.joined() }
        // Every worker is gone and none starts any more: the feed and the board's memfd close now,
        // not whenever the last reference to the pool goes.
        feed.close()
        board.closeDescriptor()
        events.finish()
    }

    deinit { events.finish() }

    var isActive: Bool { state.withLock { $0.machine.lifecycle.runsQueuedWork } }

    /// Takes `task` back for `reason`: as the stop handler of its future when it is cancelled, at
    /// its timeout, or at its deadline; the machine decides how (``ProcessPoolStateMachine/withdraw(_:reason:)``).
    /// `true` if the future completed because of this call.
    @discardableResult
    func withdraw(_ task: any AnyProcessTask, reason: ProcessPoolStateMachine.StopReason) -> Bool {
        let steps: [Step]? = state.withLock { locked in
            switch locked.machine.withdraw(task, reason: reason) {
            case .notFound, .finishing: return nil
            case .withdrawn(let actions): return prepare(actions, &locked)
            }
        }
        guard let steps else { return false }
        perform(steps)
        return true
    }

    // MARK: - Deciding and performing

    /// Runs `event` on the machine under the lock and prepares its actions.
    func decide(_ event: (inout ProcessPoolStateMachine) throws -> [ProcessPoolStateMachine.Action]) rethrows -> [Step] {
        try state.withLock { locked in
            let actions = try event(&locked.machine)
            return prepare(actions, &locked)
        }
    }
}

extension PebbleError {
    static var notRunning: PebbleError {
        PebbleError.poolNotRunning
    }
}
