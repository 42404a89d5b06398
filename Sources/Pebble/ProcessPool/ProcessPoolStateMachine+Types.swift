// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ProcessPoolStateMachine {
    typealias WorkerExitReason = ProcessPool.WorkerExitReason

    enum Lifecycle: Equatable {
        case running, closed, stopped, joined
        /// Workers cannot start (the initializer failed, or spawning keeps failing).
        case broken(PebbleError)

        var acceptsWork: Bool { self == .running }
        /// Whether queued tasks still get workers.
        var runsQueuedWork: Bool { self == .running || self == .closed }
    }

    /// Why the pool stopped a worker: what its running task's future gets, and the exit's reason.
    enum StopReason {
        case timeout(Duration)
        case cancelled
        case stopped
        case protocolError(PebbleError)
        /// It did not take a task offered while it was idle (stopped by a signal, or wedged).
        case unresponsive

        /// The error of a task a worker took (it ran, and was stopped).
        var error: any Error { error(wasRunning: true) }

        /// The error of a task withdrawn for this reason; `wasRunning` is false for one no worker
        /// took (it never ran).
        func error(wasRunning: Bool) -> any Error {
            switch self {
            case .timeout(let timeout): TimeoutError(timeout: timeout, wasRunning: wasRunning)
            case .cancelled, .stopped, .unresponsive: CancellationError()
            case .protocolError(let error): error
            }
        }

        var exitReason: WorkerExitReason {
            switch self {
            case .timeout: .timedOut
            case .cancelled: .cancelled
            case .stopped, .protocolError, .unresponsive: .stopped
            }
        }
    }

    /// A task waiting in the queue, and how many times it was offered before (it goes back to the
    /// queue when its offering is revoked for a re-offer).
    struct Queued {
        let task: any AnyProcessTask
        var reoffers = 0
    }

    /// One offering of a task on the feed: the slot of the task board it is offered in and its
    /// sequence number (unique, so a board word names one offering).
    struct Offer {
        let task: any AnyProcessTask
        let slot: Int
        let sequence: UInt64
        let offeredAt: ContinuousClock.Instant
        /// How many offerings of this task were revoked before this one, for a re-offer.
        let reoffers: Int
        /// What it counts against ``Settings/feedBytes``.
        let feedBytes: Int
    }

    enum WorkerPhase {
        /// Spawned; waiting for its ready message (after the initializer ran).
        case starting
        /// Takes tasks from the feed.
        case serving
        /// On its way out: it takes no more tasks (it said so, or it reached `maxTasks`, or the
        /// pool closed and it was idle).
        case retiring(WorkerExitReason)
        /// Signalled to die for `reason`. The task the kill was claimed for (`target`) fails with the
        /// reason's error; with no target (a pool stop), every task it holds does.
        case stopping(StopReason, target: UInt64?)

        /// Starting or serving: a worker that takes tasks, as opposed to one on its way out.
        var servesTasks: Bool {
            switch self {
            case .starting, .serving: true
            case .retiring, .stopping: false
            }
        }
    }

    /// One worker, as the machine knows it: a value, changed only by the machine's own events.
    struct WorkerRecord {
        var phase: WorkerPhase
        /// Its index on the task board (what it writes into a word it takes).
        let index: Int
        /// The offerings it took and whose outcome has not been handled, in the order taken: the
        /// first is the one its next reply answers.
        var held: [Offer] = []
        var tasksDone = 0
        /// Set when the worker announced it exits after its current reply.
        var retireReason: WorkerExitReason?
        /// Since when it holds nothing (ready, or its last outcome handled).
        var idleSince: ContinuousClock.Instant

        var isIdle: Bool {
            if case .serving = phase { held.isEmpty } else { false }
        }
    }

    /// How a withdrawal (cancel, timeout, deadline) went.
    enum Withdrawal {
        /// The task is not the pool's any more (done, or never known): nothing happened.
        case notFound
        /// Its worker finished it just before: its outcome is on the way; nothing is killed.
        case finishing
        /// Withdrawn: the actions complete its future now (and kill its worker when it was running it).
        case withdrawn([Action])
    }

    /// What the async `run` waiting for room is told.
    enum RoomDecision: Equatable {
        /// There is room now: schedule.
        case proceed
        /// Wait until woken (``Action/wakeRoomWaiters(_:)``) or until its deadline.
        case wait
        /// The pool takes no more work.
        case refuse
    }

    /// What an event decided; the owner performs it after releasing its lock, except ``settle``,
    /// which it performs under the lock (a reply arriving later then cannot win).
    enum Action {
        /// Put these offerings on the feed, in this order (their words are offered already).
        case offer([Offer])
        /// Start the timeout of a task a worker took.
        case armTimeout(Offer)
        /// Send the request of a task the worker took and fetched (``JobHeader/requestFollows``)
        /// on the worker's channel.
        case sendRequest(Offer, worker: pid_t)
        /// Cancel the timeout timer of offering `sequence`, if it has one.
        case disarm(sequence: UInt64)
        /// Look at the feed again after this long (``ProcessPoolStateMachine/checkTakes()``).
        case checkTakes(after: Duration)
        /// Look for workers idle past the idle timeout after this long (``ProcessPoolStateMachine/checkIdle()``).
        case checkIdle(after: Duration)
        case spawn(after: Duration?)
        /// Make an idle worker (or one done with its last task) exit: it holds no task.
        case retire(worker: pid_t)
        /// Signal the worker to die (SIGKILL, or SIGTERM then SIGKILL after the grace period).
        case kill(worker: pid_t)
        case fail([any AnyProcessTask], any Error)
        /// Complete the task's future now, under the lock.
        case settle(any AnyProcessTask, any Error)
        /// Resume these async `run` calls waiting for room: there is room for them.
        case wakeRoomWaiters([UInt64])
        /// Fail these async `run` calls waiting for room: the pool takes no more work.
        case refuseRoomWaiters([UInt64])
    }
}
