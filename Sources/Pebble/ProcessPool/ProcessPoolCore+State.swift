// SPDX-License-Identifier: Apache-2.0
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ProcessPoolCore {
    enum Lifecycle: Equatable {
        case running, closed, stopped, joined
        /// Workers cannot start (the initializer failed, or spawning keeps failing).
        case broken(PebbleError)

        var acceptsWork: Bool { self == .running }
        /// Whether queued tasks still get workers.
        var runsQueuedWork: Bool { self == .running || self == .closed }
    }

    /// Why the pool stopped a worker that was running a task: what that task's future gets.
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
    }

    struct RunningTask {
        let task: any AnyProcessTask
        /// Fires when the task's timeout passes; created under the lock, resumed once sent.
        let timer: (any DispatchSourceTimer)?
        var stopReason: StopReason?
        /// The task's number among the jobs sent to its worker: the task has started once the
        /// worker's start counter reaches it. Before that, the worker's death means it never ran.
        let sequence: UInt64
    }

    enum WorkerPhase {
        /// Spawned; waiting for its ready message (after the initializer ran).
        case starting
        case idle
        case busy(RunningTask)
        /// Its channel was closed (maxTasks reached, or the pool is winding down); it exits by itself.
        case retiring
        /// Signalled to die; `task` is what it was running, if anything.
        case stopping(RunningTask?)

        /// Starting, idle or busy: a worker that takes tasks, as opposed to one on its way out.
        var servesTasks: Bool {
            switch self {
            case .starting, .idle, .busy: true
            case .retiring, .stopping: false
            }
        }
    }

    struct WorkerRecord {
        let process: WorkerProcess
        var phase: WorkerPhase
        var tasksDone = 0
        /// Jobs sent to the worker so far.
        var jobsSent: UInt64 = 0
    }

    struct State {
        var lifecycle = Lifecycle.running
        var pending = FIFO<any AnyProcessTask>()
        var workers: [pid_t: WorkerRecord] = [:]
        /// Spawns requested and not yet finished.
        var spawning = 0
        /// Workers that died before they were ready, in a row: a guard against respawning in a hot loop.
        var failedStarts = 0
        /// Whether a worker ever became ready: then workers can start here, and one that dies before
        /// it is ready was killed from outside (or hit bad luck); the pool retries, with a backoff.
        var everReady = false
        /// How long the next spawn waits, after workers died before they were ready.
        var spawnBackoff: Duration?
    }

    /// What an event handler decided under the lock; performed after the lock is released.
    enum Action {
        case send(WorkerProcess, RunningTask)
        case spawn(after: Duration?)
        case retire(WorkerProcess)
        case kill(WorkerProcess)
        case fail([any AnyProcessTask], any Error)
    }
}
