// SPDX-License-Identifier: Apache-2.0
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// The owner behind a ``ProcessPool``: its ``ProcessPoolStateMachine`` and the live objects the
/// machine refers to by pid (worker processes, timeout timers), all under one lock. Every event
/// goes through ``decide(_:)``: the machine decides under the lock, the bookkeeping that must be
/// atomic with the decision (entering `liveWorkers` for a spawn, keeping timers) happens under it
/// too, and the ``Step``s (sends, kills, spawns, failed futures) are performed after it is released.
final class ProcessPoolCore: WorkerEvents {
    struct Locked {
        var machine: ProcessPoolStateMachine
        var processes: [pid_t: WorkerProcess] = [:]
        var timers: [pid_t: any DispatchSourceTimer] = [:]
        /// Async `run` calls waiting for room in a full queue, oldest first.
        var roomWaiters = RoomWaiters<CheckedContinuation<Void, any Error>>()
    }

    let configuration: ProcessPool.Configuration
    /// The hello message every new worker gets: the message limit, the ``WorkerSettings`` and the
    /// initializer, if any.
    let hello: [UInt8]
    // Locked holds DispatchSource timers, which are not Sendable in corelibs-dispatch; they are
    // only created, resumed and cancelled, which Dispatch allows from any thread.
    let state: StateLock<Locked>
    /// Entered for every worker from the moment its spawn is decided until it is reaped.
    let liveWorkers = DispatchGroup()
    /// Timeouts, deadlines, spawn backoffs and kill escalations fire here: never on a global
    /// queue, which blocked user code could starve, and never on a worker's queue.
    let timerQueue = DispatchQueue(label: "pebble.process-pool.timers")
    /// Where every worker's queue runs: the pool's replies and exits are handled one at a time on
    /// one thread, so the handlers of two workers never contend for the pool's lock (measured:
    /// with a queue each, a third of the parent's CPU went to spinning on that lock).
    let channelQueue = DispatchQueue(label: "pebble.process-pool.channels")
    let counters = StateLock(OutcomeCounters())
    let events = EventBroadcaster<ProcessPool.Event>()

    init(configuration: ProcessPool.Configuration, hello: [UInt8]) {
        self.configuration = configuration
        self.hello = hello
        state = StateLock(Locked(machine: ProcessPoolStateMachine(settings: .init(
            maxWorkers: configuration.maxWorkers, maxTasks: configuration.maxTasks,
            hasInitializer: configuration.initializer != nil, maxPending: configuration.maxPending))))
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
        state.withLock { $0.roomWaiters.failAll() }.forEach { $0.resume(throwing: PebbleError.notRunning) }
    }

    func join(timeout: Duration?) throws {
        let lifecycle = state.withLock { $0.machine.lifecycle }
        if lifecycle == .running {
            throw PebbleError(.poolStillRunning, "join() needs close() or stop() first")
        }
        if liveWorkers.wait(timeout: deadline(after: timeout)) == .timedOut {
            throw PebbleError(.waitTimedOut, "tasks are still running after \(timeout ?? .zero)")
        }
        state.withLock { $0.machine.joined() }
        events.finish()
    }

    deinit { events.finish() }

    var isActive: Bool { state.withLock { $0.machine.lifecycle.runsQueuedWork } }

    /// Takes `task` out of its worker for `reason`: as the stop handler of its future when it is
    /// cancelled, at its timeout, or at its deadline. A task the worker had not taken is revoked and
    /// never runs; a taken one has its worker stopped, and fails at the worker's exit. A cancel or a
    /// revocation completes the future under the pool's lock, so a reply arriving after it cannot
    /// win. `true` if the future completed (or will) because of this call.
    @discardableResult
    func withdraw(_ task: any AnyProcessTask, reason: ProcessPoolStateMachine.StopReason) -> Bool {
        let outcome: (notify: (@Sendable () -> Void)?, steps: [Step])? = state.withLock { locked in
            switch locked.machine.withdraw(task, reason: reason) {
            case .notSent:
                // Cancelled just as its worker died (or gave it back): queued again, it is cancelled as
                // a queued task; a deadline removes it from the queue.
                guard locked.machine.removePending(task), let settled = task.settle(reason.error) else { return nil }
                return (settled, prepare([], &locked))
            case .revoked(let actions):
                return (task.settle(reason.error), prepare(actions, &locked))
            case .stopping(let actions):
                let settled = reason.isCancel ? task.settle(CancellationError()) : nil
                return (settled, prepare(actions, &locked))
            }
        }
        guard let outcome else { return false }
        outcome.notify?()
        perform(outcome.steps)
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
        PebbleError(.poolNotRunning, "the pool was closed or stopped; create a new pool to schedule more work")
    }
}
