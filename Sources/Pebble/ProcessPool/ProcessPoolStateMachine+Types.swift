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

        var exitReason: WorkerExitReason {
            switch self {
            case .timeout: .timedOut
            case .cancelled: .cancelled
            case .stopped, .protocolError: .stopped
            }
        }
    }

    struct RunningTask {
        let task: any AnyProcessTask
        /// The task's number among the jobs sent to its worker: the task has started once the
        /// worker's start counter reaches it. Before that, the worker's death means it never ran.
        let sequence: UInt64
        var stopReason: StopReason?
    }

    enum WorkerPhase {
        /// Spawned; waiting for its ready message (after the initializer ran).
        case starting
        case idle
        case busy(RunningTask)
        /// On its way out by itself (its channel closed, or it said it exits after its reply).
        case retiring(WorkerExitReason)
        /// Signalled to die; `task` is what it was running, if anything.
        case stopping(RunningTask?, reason: StopReason)

        /// Starting, idle or busy: a worker that takes tasks, as opposed to one on its way out.
        var servesTasks: Bool {
            switch self {
            case .starting, .idle, .busy: true
            case .retiring, .stopping: false
            }
        }
    }

    struct WorkerRecord {
        var phase: WorkerPhase
        var tasksDone = 0
        /// Jobs sent to the worker so far.
        var jobsSent: UInt64 = 0
        /// Set when the worker announced it exits after its current reply.
        var retireReason: WorkerExitReason?
    }

    /// What an event decided; the owner performs it after releasing its lock.
    enum Action {
        /// Arm the task's timeout, then send its request to the worker.
        case send(worker: pid_t, RunningTask)
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
