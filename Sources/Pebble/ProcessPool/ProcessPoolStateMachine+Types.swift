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

        var error: any Error {
            switch self {
            case .timeout(let timeout): TimeoutError(timeout: timeout)
            case .cancelled, .stopped: CancellationError()
            case .protocolError(let error): error
            }
        }

        var isCancel: Bool {
            if case .cancelled = self { true } else { false }
        }

        var exitReason: WorkerExitReason {
            switch self {
            case .timeout: .timedOut
            case .cancelled: .cancelled
            case .stopped, .protocolError: .stopped
            }
        }
    }

    /// A task sent to a worker: the slot of the worker's claim board it was offered in, and its
    /// number among the tasks sent to that worker (unique, so a claim word names one sending).
    struct SentTask {
        let task: any AnyProcessTask
        let slot: Int
        let sequence: UInt64
    }

    enum WorkerPhase {
        /// Spawned; waiting for its ready message (after the initializer ran).
        case starting
        /// Takes tasks: idle when its window is empty.
        case serving
        /// On its way out by itself (its channel closed, or it said it exits after its reply).
        case retiring(WorkerExitReason)
        /// Signalled to die for `reason`. The task it is found to have taken at its exit fails
        /// with the reason's error if it is `target` (or if there is no target: a pool stop);
        /// another taken task was killed with it and fails with the death.
        case stopping(StopReason, target: UInt64?)

        /// Starting or serving: a worker that takes tasks, as opposed to one on its way out.
        var servesTasks: Bool {
            switch self {
            case .starting, .serving: true
            case .retiring, .stopping: false
            }
        }
    }

    /// A class, not a struct: the machine reads every worker's record on each event, and copying
    /// a record (its window, slots and claim board) cost retains and releases on every read
    /// (2–3% of the parent's samples in the M3 benchmark). Only the machine holds records.
    final class WorkerRecord {
        var phase: WorkerPhase
        /// The worker's claim board.
        let claims: any TaskClaims
        /// Tasks sent and neither answered nor revoked, in the order sent: the worker runs them in
        /// this order, so each reply is the first one's. The first is running or about to.
        var window: [SentTask] = []
        /// Bytes of the requests in `window`.
        var windowBytes = 0
        /// Slots of the claim board not used by `window`.
        var freeSlots: [Int]
        var tasksDone = 0
        /// Tasks sent to the worker so far.
        var tasksSent: UInt64 = 0
        /// Set when the worker announced it exits after its current reply.
        var retireReason: WorkerExitReason?
        /// Since when the first task of `window` is the worker's (roughly when the worker took it).
        var firstTaskSince: ContinuousClock.Instant?
        /// The first task ran past ``Settings/overdueAfter``: the worker gave back the tasks behind
        /// it and takes no more until it is done.
        var isOverdue = false

        init(phase: WorkerPhase, claims: any TaskClaims, windowSize: Int) {
            self.phase = phase
            self.claims = claims
            freeSlots = Array((0..<min(windowSize, claims.slots)).reversed())
        }

        var isIdle: Bool {
            if case .serving = phase { window.isEmpty } else { false }
        }
    }

    /// How a task left a worker's window when the pool withdrew it.
    enum Withdrawal {
        /// Not in any window (queued, or done).
        case notSent
        /// Revoked before the worker took it: it never runs; the caller completes its future.
        case revoked([Action])
        /// The worker took it: the worker is being stopped; its exit fails the task.
        case stopping([Action])
    }

    /// What an event decided; the owner performs it after releasing its lock.
    enum Action {
        /// Send these requests to the worker, in this order (their slots are offered already).
        case send(worker: pid_t, [SentTask])
        /// Arm the timeout of the worker's first task, which it is taking now.
        case arm(worker: pid_t, SentTask)
        case spawn(after: Duration?)
        /// Close the worker's channel: it reads end-of-file and exits.
        case retire(worker: pid_t)
        /// Signal the worker to die (SIGKILL, or SIGTERM then SIGKILL after the grace period).
        case kill(worker: pid_t)
        /// Cancel the worker's timeout timer, if it has one.
        case disarm(worker: pid_t)
        case fail([any AnyProcessTask], any Error)
    }
}
