// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Every decision of a ``ProcessPool``, as a value: the lifecycle, the queue of pending tasks, the
/// phase of each worker and the counters. Each method takes an event (a task scheduled, a worker
/// ready, a reply, an exit…) and returns the ``Action``s that follow; it sends nothing, arms no
/// timer, takes no lock and makes no system call. ``ProcessPoolCore`` holds it under its one lock
/// and performs the actions after releasing it, so the machine is unit-tested without processes.
///
/// The only outside calls are a task's own atomic claims (``AnyProcessTask/start(on:)``,
/// ``AnyProcessTask/requeue()``): starting a task and cancelling it are one transition of its
/// future, so exactly one of them wins.
///
/// ```swift
/// var machine = ProcessPoolStateMachine(settings: .init(maxWorkers: 1))
/// let actions = try machine.enqueue([task])     // [.spawn(after: nil)]
/// ```
struct ProcessPoolStateMachine {
    struct Settings {
        var maxWorkers: Int
        var maxTasks = 0
        var hasInitializer = false
        var maxPending: Int?
    }

    let settings: Settings
    private(set) var lifecycle = Lifecycle.running
    private(set) var pending = FIFO<any AnyProcessTask>()
    private(set) var workers: [pid_t: WorkerRecord] = [:]
    /// Spawns requested and not yet finished.
    private(set) var spawning = 0
    /// Workers that died before they were ready, in a row.
    private(set) var failedStarts = 0
    /// Whether a worker ever became ready: then workers can start here.
    private(set) var everReady = false
    /// How long the next spawn waits, after workers died before they were ready.
    private(set) var spawnBackoff: Duration?
    private(set) var workersStarted = 0
    private(set) var workersExited = 0

    init(settings: Settings) {
        self.settings = settings
    }

    /// Consecutive deaths before ready that break a pool with an initializer once a worker was
    /// ready: the initializer started failing by crashing. Before any worker was ready, one does.
    static let initializerDeathLimit = 3
    /// Consecutive deaths before ready that break a pool before any worker was ready.
    static let startFailureLimit = 3

    // MARK: - Calls from the pool

    /// Throws what `schedule` must throw when the pool takes no work, or no more work.
    mutating func checkAcceptsWork(adding count: Int = 1) throws {
        switch lifecycle {
        case .running: break
        case .broken(let error): throw error
        case .closed, .stopped, .joined:
            throw PebbleError(.poolNotRunning, "the pool was closed or stopped; create a new pool to schedule more work")
        }
        if let maxPending = settings.maxPending, room < count {
            throw PebbleError(.queueFull, "the pool's queue holds \(pending.count) of at most \(maxPending) pending tasks; \(count) more do not fit")
        }
    }

    /// How many more tasks fit in the queue now (`Int.max` without `maxPending`). Tasks that were
    /// cancelled or failed while queued take no room: they are dropped when the queue looks full.
    var room: Int {
        mutating get {
            guard let maxPending = settings.maxPending else { return .max }
            if pending.count >= maxPending { pending.removeAll { $0.isDone } }
            return max(0, maxPending - pending.count)
        }
    }

    /// Removes `task` from the queue if it waits there (a deadline passed); `true` if it did.
    mutating func removePending(_ task: any AnyProcessTask) -> Bool {
        let before = pending.count
        pending.removeAll { $0 === task }
        return pending.count < before
    }

    /// Whether `task` waits in the queue.
    func isPending(_ task: any AnyProcessTask) -> Bool {
        pending.contains { $0 === task }
    }

    mutating func enqueue(_ tasks: [any AnyProcessTask]) throws -> [Action] {
        try checkAcceptsWork(adding: tasks.count)
        for task in tasks { pending.append(task) }
        return dispatchWork()
    }

    mutating func close() -> [Action] {
        guard lifecycle == .running else { return [] }
        lifecycle = .closed
        return dispatchWork()
    }

    /// Stops every worker; the dropped pending tasks are failed by the returned action.
    mutating func stop() -> [Action] {
        switch lifecycle {
        case .stopped, .joined: return []
        default: lifecycle = .stopped
        }
        var actions = workers.keys.compactMap { stopWorker($0, reason: .stopped) }.flatMap { $0 }
        actions.append(.fail(pending.removeAll(), CancellationError()))
        return actions
    }

    /// After `join` saw every worker gone.
    mutating func joined() {
        if lifecycle == .closed || lifecycle == .stopped { lifecycle = .joined }
    }

    /// Stops the worker running `task` (timeout, deadline or cancel). `nil` when `task` does not
    /// run on `pid` any more.
    mutating func stopTask(_ task: any AnyProcessTask, on pid: pid_t, reason: StopReason) -> [Action]? {
        guard case .busy(let running)? = workers[pid]?.phase, running.task === task else { return nil }
        return stopWorker(pid, reason: reason)
    }

    /// The worker running `task`, if it runs on one.
    func worker(running task: any AnyProcessTask) -> pid_t? {
        workers.first { if case .busy(let running) = $0.value.phase { running.task === task } else { false } }?.key
    }

    // MARK: - Worker events

    /// A spawned worker registered; `false` when the pool stopped meanwhile and it must be killed.
    mutating func workerSpawned(_ pid: pid_t) -> Bool {
        spawning -= 1
        workersStarted += 1
        let wanted = lifecycle.runsQueuedWork
        workers[pid] = WorkerRecord(phase: wanted ? .starting : .stopping(nil, reason: .stopped))
        return wanted
    }

    /// A spawn failed: with no worker alive and none coming, nothing would ever run the queue.
    mutating func spawnFailed(_ error: PebbleError) -> [Action] {
        spawning -= 1
        guard workers.isEmpty && spawning == 0 else { return [] }
        return [.fail(pending.removeAll(), error)]
    }

    mutating func workerReady(_ pid: pid_t) -> [Action] {
        guard case .starting? = workers[pid]?.phase else { return [] }
        workers[pid]!.phase = .idle
        failedStarts = 0
        everReady = true
        spawnBackoff = nil
        return dispatchWork()
    }

    mutating func initializerFailed(_ pid: pid_t, _ message: String) -> [Action] {
        let error = PebbleError(.initializerFailed, "the process pool's initializer threw: \(message)")
        var actions: [Action] = []
        if case .starting? = workers[pid]?.phase {
            workers[pid]!.phase = .retiring(.retired)
            actions.append(.retire(worker: pid))
        }
        return actions + breakPool(error) + dispatchWork()
    }

    /// The worker said it will exit after its current reply (over `maxResidentMemory`).
    mutating func workerWillRetire(_ pid: pid_t, reason: WorkerExitReason) {
        workers[pid]?.retireReason = reason
    }

    /// A reply arrived. Returns the task it completes (to resolve outside the lock), if any.
    mutating func taskFinished(on pid: pid_t) -> (task: (any AnyProcessTask)?, actions: [Action]) {
        guard let record = workers[pid] else { return (nil, []) }
        switch record.phase {
        case .busy(let running):
            workers[pid]!.tasksDone += 1
            var actions: [Action] = [.disarm(worker: pid)]
            if let reason = record.retireReason {
                workers[pid]!.phase = .retiring(reason)
            } else if settings.maxTasks > 0 && workers[pid]!.tasksDone >= settings.maxTasks {
                workers[pid]!.phase = .retiring(.retired)
                actions.append(.retire(worker: pid))
            } else {
                workers[pid]!.phase = .idle
            }
            return (running.task, actions + dispatchWork())
        case .stopping(let running?, _):
            // The reply beat the kill: the task did finish (unless a cancel already completed it).
            return (running.task, [])
        default:
            return (nil, stopWorker(pid, reason: .protocolError(
                PebbleError(.protocolViolation, "worker \(pid) sent a reply with no task running")))  ?? [])
        }
    }

    mutating func brokeProtocol(_ pid: pid_t, _ error: PebbleError) -> [Action] {
        stopWorker(pid, reason: .protocolError(error)) ?? []
    }

    /// Worker `pid` exited. `startedJobs` is its start counter: a task it was sent but never
    /// started goes back to the head of the queue. Returns the exit's reason for the events.
    mutating func workerExited(_ pid: pid_t, startedJobs: UInt64, death: ProcessExpired) -> (reason: WorkerExitReason, actions: [Action]) {
        guard let record = workers.removeValue(forKey: pid) else { return (.diedIdle, []) }
        workersExited += 1
        var actions: [Action] = [.disarm(worker: pid)]
        let reason: WorkerExitReason
        switch record.phase {
        case .busy(let running) where startedJobs < running.sequence:
            reason = .diedIdle
            if running.task.requeue() { pending.prepend(running.task) }
        case .busy(let running):
            reason = .crashed
            actions.append(.fail([running.task], death))
        case .stopping(let running, let stopReason):
            reason = stopReason.exitReason
            if let running { actions.append(.fail([running.task], running.stopReason?.error ?? death)) }
        case .starting:
            reason = .diedIdle
            actions += diedBeforeReady(death)
        case .idle:
            reason = .diedIdle
        case .retiring(let retireReason):
            reason = retireReason
        }
        return (reason, actions + dispatchWork())
    }

    // MARK: - Decisions

    /// Hands pending tasks to idle workers, retires workers no longer needed, and asks for spawns.
    private mutating func dispatchWork() -> [Action] {
        var actions: [Action] = []
        for pid in workers.keys {
            guard case .idle = workers[pid]!.phase else { continue }
            if lifecycle.runsQueuedWork, let running = nextTask(worker: pid) {
                workers[pid]!.phase = .busy(running)
                actions.append(.send(worker: pid, running))
            } else if !lifecycle.acceptsWork {
                workers[pid]!.phase = .retiring(.retired)
                actions.append(.retire(worker: pid))
            }
        }
        guard lifecycle.runsQueuedWork else { return actions }
        // While running, the pool keeps maxWorkers workers from the first task on, and replaces a
        // dying one at once (it no longer counts); once closed, it starts workers only for queued tasks.
        let serving = workers.values.count { $0.phase.servesTasks } + spawning
        let starting = workers.values.count { if case .starting = $0.phase { true } else { false } }
        let wanted = lifecycle.acceptsWork
            ? settings.maxWorkers
            : min(settings.maxWorkers, serving + max(0, pending.count - starting - spawning))
        for _ in serving..<max(serving, wanted) {
            spawning += 1
            actions.append(.spawn(after: spawnBackoff))
        }
        return actions
    }

    /// The next pending task that was not cancelled, claimed for worker `pid`.
    private mutating func nextTask(worker pid: pid_t) -> RunningTask? {
        while let task = pending.popFirst() {
            if task.start(on: pid) {
                workers[pid]!.jobsSent += 1
                return RunningTask(task: task, sequence: workers[pid]!.jobsSent)
            }
        }
        return nil
    }

    /// Marks worker `pid` as stopping; its running task (if any) will fail with `reason`'s error.
    private mutating func stopWorker(_ pid: pid_t, reason: StopReason) -> [Action]? {
        guard let record = workers[pid] else { return nil }
        switch record.phase {
        case .stopping:
            return nil
        case .busy(var running):
            running.stopReason = running.stopReason ?? reason
            workers[pid]!.phase = .stopping(running, reason: reason)
        case .starting, .idle, .retiring:
            workers[pid]!.phase = .stopping(nil, reason: reason)
        }
        return [.disarm(worker: pid), .kill(worker: pid)]
    }

    /// A worker died before it was ready. With an initializer, that is the initializer's failure:
    /// at once if no worker was ever ready, after ``initializerDeathLimit`` in a row otherwise (it
    /// started crashing). Without one, ``startFailureLimit`` in a row before any worker was ready
    /// mean workers cannot start here. Otherwise (killed from outside) the next spawn waits a
    /// backoff that doubles with each death in a row, from 1 ms to 1 s.
    private mutating func diedBeforeReady(_ death: ProcessExpired) -> [Action] {
        failedStarts += 1
        if settings.hasInitializer && (!everReady || failedStarts >= Self.initializerDeathLimit) {
            return breakPool(PebbleError(.initializerFailed, "\(failedStarts) worker(s) in a row died while running the initializer; last: \(death)"))
        }
        if !everReady && failedStarts >= Self.startFailureLimit {
            return breakPool(PebbleError(.spawnFailed, "\(failedStarts) workers in a row died before they were ready; last: \(death)"))
        }
        spawnBackoff = .milliseconds(1 << min(failedStarts - 1, 10))
        return []
    }

    private mutating func breakPool(_ error: PebbleError) -> [Action] {
        guard lifecycle.runsQueuedWork else { return [] }
        lifecycle = .broken(error)
        return [.fail(pending.removeAll(), error)]
    }
}
