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
/// Each worker holds a window of tasks (``Settings/windowSize``): they wait in its channel while it
/// runs the first, so it never waits for the pool between tasks. Every sent task is offered in a
/// slot of the worker's claim board (``TaskClaims``); the worker takes it before running it, and
/// the pool can revoke it until then: a cancelled or timed-out task that was sent but not taken
/// never runs, a worker's death fails only the task it took and gives the rest back to the queue,
/// and an idle worker takes back half of a busy one's waiting tasks.
///
/// The only outside calls are those atomic claims, and a task's own (``AnyProcessTask/start(on:)``,
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
        /// The most tasks a worker holds at once (sent, not yet answered): the one it runs and
        /// those waiting behind it in its channel.
        var windowSize = 16
        /// Requests that make a worker's window hold more bytes than this wait for an empty one,
        /// so a send into a window never waits on a worker busy with a task: it fits in the
        /// channel's buffer.
        var windowBytes = 64 * 1024
        /// A worker whose current task has run this long gives back the tasks waiting behind it
        /// (at the next event: another worker's reply, an exit, a timer) and takes no more until
        /// that task is done: a long task never holds short ones hostage.
        var overdueAfter = Duration.milliseconds(10)
        /// The machine's clock (a test's own, in the unit tests).
        var now: @Sendable () -> ContinuousClock.Instant = { .now }
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
            throw PebbleError(.queueFull, "the pool holds \(pending.count + waitingInWindows) of at most \(maxPending) pending tasks; \(count) more do not fit")
        }
    }

    /// How many more tasks fit in the queue now (`Int.max` without `maxPending`). A task counts
    /// until a worker takes it: queued, or waiting in a worker's window. Tasks that were cancelled
    /// or failed while queued take no room: they are dropped when the queue looks full.
    var room: Int {
        mutating get {
            guard let maxPending = settings.maxPending else { return .max }
            if pending.count >= maxPending { pending.removeAll { $0.isDone } }
            return max(0, maxPending - pending.count - waitingInWindows)
        }
    }

    /// Tasks sent to workers that have not taken them yet.
    var waitingInWindows: Int {
        workers.values.reduce(0) { count, record in
            count + record.window.count { !record.claims.isTaken(slot: $0.slot, sequence: $0.sequence) }
        }
    }

    /// Removes `task` from the queue if it waits there (a deadline passed); `true` if it did.
    mutating func removePending(_ task: any AnyProcessTask) -> Bool {
        let before = pending.count
        pending.removeAll { $0 === task }
        return pending.count < before
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

    /// Stops every worker; the dropped pending tasks, and the tasks sent but not taken (revoked
    /// here), are failed by the returned actions.
    mutating func stop() -> [Action] {
        switch lifecycle {
        case .stopped, .joined: return []
        default: lifecycle = .stopped
        }
        var actions: [Action] = []
        for pid in workers.keys {
            actions += revokeWaiting(on: pid, keeping: 0).map { .fail([$0.task], CancellationError()) }
            actions += stopWorker(pid, reason: .stopped, target: nil) ?? []
        }
        actions.append(.fail(pending.removeAll(), CancellationError()))
        return actions
    }

    /// After `join` saw every worker gone.
    mutating func joined() {
        if lifecycle == .closed || lifecycle == .stopped { lifecycle = .joined }
    }

    /// Takes `task` out of the worker that holds it, for `reason` (a cancel, a timeout, a
    /// deadline): revoked if the worker has not taken it, else its worker is stopped.
    mutating func withdraw(_ task: any AnyProcessTask, reason: StopReason) -> Withdrawal {
        guard let (pid, index) = locate(task) else { return .notSent }
        let sent = workers[pid]!.window[index]
        guard workers[pid]!.claims.revoke(slot: sent.slot, sequence: sent.sequence) else {
            return .stopping(stopWorker(pid, reason: reason, target: sent.sequence) ?? [])
        }
        return .revoked(removeFromWindow(pid, at: index) + dispatchWork())
    }

    /// The worker holding `task` and its place in that worker's window.
    func locate(_ task: any AnyProcessTask) -> (pid: pid_t, index: Int)? {
        for (pid, record) in workers {
            if let index = record.window.firstIndex(where: { $0.task === task }) { return (pid, index) }
        }
        return nil
    }

    // MARK: - Worker events

    /// A spawned worker registered with its claim board; `false` when the pool stopped meanwhile
    /// and it must be killed.
    mutating func workerSpawned(_ pid: pid_t, claims: any TaskClaims) -> Bool {
        spawning -= 1
        workersStarted += 1
        let wanted = lifecycle.runsQueuedWork
        workers[pid] = WorkerRecord(phase: wanted ? .starting : .stopping(.stopped, target: nil),
                                    claims: claims, windowSize: settings.windowSize)
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
        workers[pid]!.phase = .serving
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

    /// A reply arrived: it is the first task's of the worker's window. Returns that task (to
    /// resolve outside the lock), if any.
    mutating func taskFinished(on pid: pid_t) -> (task: (any AnyProcessTask)?, actions: [Action]) {
        let (tasks, actions) = tasksFinished(on: pid, count: 1)
        return (tasks[0], actions)
    }

    /// `count` replies arrived together (one read): the first `count` tasks of the window, in
    /// order, with one dispatch after them all.
    mutating func tasksFinished(on pid: pid_t, count: Int) -> (tasks: [(any AnyProcessTask)?], actions: [Action]) {
        var tasks: [(any AnyProcessTask)?] = []
        tasks.reserveCapacity(count)
        var actions: [Action] = []
        var dispatch = false
        for _ in 0..<count {
            let answer = answerFirstTask(on: pid)
            tasks.append(answer.task)
            actions += answer.actions
            dispatch = dispatch || answer.dispatch
        }
        return (tasks, dispatch ? actions + dispatchWork() : actions)
    }

    /// Takes the first task out of worker `pid`'s window for its reply; `dispatch` when the pool
    /// should hand out work afterwards.
    private mutating func answerFirstTask(on pid: pid_t) -> (task: (any AnyProcessTask)?, actions: [Action], dispatch: Bool) {
        guard let record = workers[pid] else { return (nil, [], false) }
        guard let answered = record.window.first else {
            return (nil, stopWorker(pid, reason: .protocolError(
                PebbleError(.protocolViolation, "worker \(pid) sent a reply with no task running")), target: nil) ?? [], false)
        }
        let actions = removeFromWindow(pid, at: 0)
        guard case .serving = record.phase else {
            // The reply beat the kill (or the exit): the task did finish, unless a cancel already
            // completed it.
            return (answered.task, actions, false)
        }
        record.tasksDone += 1
        if let reason = record.retireReason {
            record.phase = .retiring(reason)
        } else if settings.maxTasks > 0 && record.tasksDone >= settings.maxTasks {
            record.phase = .retiring(.retired)
            return (answered.task, actions + [.retire(worker: pid)], true)
        }
        return (answered.task, actions, true)
    }

    mutating func brokeProtocol(_ pid: pid_t, _ error: PebbleError) -> [Action] {
        stopWorker(pid, reason: .protocolError(error), target: nil) ?? []
    }

    /// Worker `pid` exited. The task its claim board shows it took fails (with the death, or with
    /// why the pool stopped it); the tasks it had not taken go back to the head of the queue.
    /// Returns the exit's reason for the events.
    mutating func workerExited(_ pid: pid_t, death: ProcessExpired) -> (reason: WorkerExitReason, actions: [Action]) {
        guard let record = workers.removeValue(forKey: pid) else { return (.diedIdle, []) }
        workersExited += 1
        var actions: [Action] = [.disarm(worker: pid)]
        var taken: [SentTask] = [], waiting: [SentTask] = []
        for sent in record.window {
            if record.claims.isTaken(slot: sent.slot, sequence: sent.sequence) { taken.append(sent) } else { waiting.append(sent) }
        }
        let reason: WorkerExitReason
        switch record.phase {
        case .serving:
            reason = taken.isEmpty ? .diedIdle : .crashed
            if !taken.isEmpty { actions.append(.fail(taken.map(\.task), death)) }
        case .stopping(let stopReason, let target):
            reason = stopReason.exitReason
            for sent in taken {
                // A task taken after the one the stop was for was killed with it: it fails with the death.
                let error = target == nil || target == sent.sequence ? stopReason.error : death
                actions.append(.fail([sent.task], error))
            }
        case .starting:
            reason = .diedIdle
            actions += diedBeforeReady(death)
        case .retiring(let retireReason):
            reason = retireReason
            if !taken.isEmpty { actions.append(.fail(taken.map(\.task), death)) }
        }
        return (reason, actions + giveBack(waiting.map(\.task)) + dispatchWork())
    }

    // MARK: - Decisions

    /// Fills the windows of serving workers from the queue, lets idle workers take back waiting
    /// tasks from busy ones, retires workers no longer needed, and asks for spawns.
    private mutating func dispatchWork() -> [Action] {
        var actions: [Action] = []
        if lifecycle.runsQueuedWork {
            if workers.count > 1 { takeBackFromOverdueWorkers() }
            actions += fillWindows()
            if pending.isEmpty && stealForIdleWorkers() { actions += fillWindows() }
        }
        for pid in workers.keys where workers[pid]!.isIdle && !lifecycle.acceptsWork
            && (pending.isEmpty || !lifecycle.runsQueuedWork) {
            workers[pid]!.phase = .retiring(.retired)
            actions.append(.retire(worker: pid))
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

    /// Hands queued tasks, in order, to the serving workers with the most room, and returns one
    /// send per worker (plus the timeout of a task that went to an empty window). A worker is
    /// refilled once its window is down to half, then up to full: replies and sends come in
    /// batches, and a burst costs a fraction of a send per task.
    private mutating func fillWindows() -> [Action] {
        var batches: [(pid: pid_t, wasEmpty: Bool, tasks: [SentTask])] = []
        var refilling: [pid_t] = []
        while let task = pending.popFirst() {
            if task.isDone { continue }
            guard let pid = workerWithMostRoom(for: task, refilling: refilling) else {
                pending.prepend(task)
                break
            }
            guard task.start(on: pid) else { continue }
            let wasEmpty = workers[pid]!.window.isEmpty
            let sent = place(task, on: pid)
            if let index = batches.firstIndex(where: { $0.pid == pid }) {
                batches[index].tasks.append(sent)
            } else {
                batches.append((pid, wasEmpty, [sent]))
                refilling.append(pid)
            }
            if wasEmpty { workers[pid]!.firstTaskSince = settings.now() }
        }
        return batches.flatMap { batch -> [Action] in
            (batch.wasEmpty ? [.arm(worker: batch.pid, batch.tasks[0])] : []) + [.send(worker: batch.pid, batch.tasks)]
        }
    }

    /// The serving worker that should get `task`: the one with the fewest tasks among those with
    /// room. A worker with tasks takes more only once down to half its window (or while it is
    /// being refilled), and only requests that keep it under ``Settings/windowBytes``.
    private func workerWithMostRoom(for task: any AnyProcessTask, refilling: [pid_t]) -> pid_t? {
        var best: (pid: pid_t, count: Int)?
        for (pid, record) in workers {
            guard case .serving = record.phase, !record.freeSlots.isEmpty, !record.isOverdue else { continue }
            let count = record.window.count
            if settings.maxTasks > 0 && record.tasksDone + count >= settings.maxTasks { continue }
            if count > 0 {
                guard count <= record.freeSlots.count || refilling.contains(pid) else { continue }
                guard record.windowBytes + task.request.count <= settings.windowBytes else { continue }
            }
            if best == nil || count < best!.count { best = (pid, count) }
        }
        return best?.pid
    }

    /// Offers `task` in a free slot of worker `pid`'s claim board and adds it to the window.
    private mutating func place(_ task: any AnyProcessTask, on pid: pid_t) -> SentTask {
        workers[pid]!.tasksSent += 1
        let sent = SentTask(task: task, slot: workers[pid]!.freeSlots.removeLast(), sequence: workers[pid]!.tasksSent)
        workers[pid]!.claims.offer(slot: sent.slot, sequence: sent.sequence)
        workers[pid]!.window.append(sent)
        workers[pid]!.windowBytes += task.request.count
        return sent
    }

    /// Takes the task at `index` out of worker `pid`'s window (answered or revoked). When it was
    /// the first, its timer goes, and the next task, which the worker takes now, gets its own.
    private mutating func removeFromWindow(_ pid: pid_t, at index: Int) -> [Action] {
        let sent = workers[pid]!.window.remove(at: index)
        workers[pid]!.windowBytes -= sent.task.request.count
        workers[pid]!.freeSlots.append(sent.slot)
        guard index == 0 else { return [] }
        workers[pid]!.isOverdue = false
        guard case .serving = workers[pid]!.phase, let next = workers[pid]!.window.first else { return [.disarm(worker: pid)] }
        workers[pid]!.firstTaskSince = settings.now()
        return [.disarm(worker: pid), .arm(worker: pid, next)]
    }

    /// Revokes the tasks waiting behind the first `keeping` of worker `pid`'s window, from the
    /// last, until the worker turns out to have taken one; returns them in window order.
    private mutating func revokeWaiting(on pid: pid_t, keeping: Int, atMost limit: Int = .max) -> [SentTask] {
        var revoked: [SentTask] = []
        var index = workers[pid]!.window.count - 1
        while index >= keeping && revoked.count < limit {
            let sent = workers[pid]!.window[index]
            guard workers[pid]!.claims.revoke(slot: sent.slot, sequence: sent.sequence) else { break }
            _ = removeFromWindow(pid, at: index)
            revoked.append(sent)
            index -= 1
        }
        return revoked.reversed()
    }

    /// Workers whose current task has run longer than ``Settings/overdueAfter`` give back the tasks
    /// waiting behind it, to the head of the queue, and take no more until that task is done.
    private mutating func takeBackFromOverdueWorkers() {
        let now = settings.now()
        for (pid, record) in workers where record.window.count >= 2 && !record.isOverdue {
            guard case .serving = record.phase, let since = record.firstTaskSince, now - since > settings.overdueAfter else { continue }
            workers[pid]!.isOverdue = true
            let revoked = revokeWaiting(on: pid, keeping: 1)
            for sent in revoked.reversed() where sent.task.requeue() { pending.prepend(sent.task) }
        }
    }

    /// With the queue empty, each idle worker takes back half of the tasks waiting behind the
    /// running one of the busiest worker, so a long task never holds short ones hostage. They go
    /// to the head of the queue; `true` if any did.
    private mutating func stealForIdleWorkers() -> Bool {
        var stole = false
        for _ in 0..<workers.values.count(where: { $0.isIdle }) {
            let busiest = workers.filter { if case .serving = $0.value.phase { $0.value.window.count >= 2 } else { false } }
                .max { $0.value.window.count < $1.value.window.count }
            guard let (pid, record) = busiest else { break }
            let stolen = revokeWaiting(on: pid, keeping: 1, atMost: record.window.count / 2)
            for sent in stolen.reversed() where sent.task.requeue() { pending.prepend(sent.task) }
            stole = stole || !stolen.isEmpty
        }
        return stole
    }

    /// Tasks a worker had not taken: back to the head of the queue, in order, while the pool
    /// runs queued work; failed otherwise.
    private mutating func giveBack(_ tasks: [any AnyProcessTask]) -> [Action] {
        guard !tasks.isEmpty else { return [] }
        switch lifecycle {
        case .running, .closed:
            for task in tasks.reversed() where task.requeue() { pending.prepend(task) }
            return []
        case .broken(let error):
            return [.fail(tasks, error)]
        case .stopped, .joined:
            return [.fail(tasks, CancellationError())]
        }
    }

    /// Marks worker `pid` as stopping for `reason` (aimed at task `target`, if any).
    private mutating func stopWorker(_ pid: pid_t, reason: StopReason, target: UInt64?) -> [Action]? {
        guard let record = workers[pid] else { return nil }
        if case .stopping = record.phase { return nil }
        workers[pid]!.phase = .stopping(reason, target: target)
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
