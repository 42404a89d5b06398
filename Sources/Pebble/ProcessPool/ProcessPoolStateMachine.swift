// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Every decision of a ``ProcessPool``, as a value: the lifecycle, the queue, the offerings on the
/// feed, each worker's record, the async `run` calls waiting for room, and the counters. Each
/// method takes an event (a task scheduled, a worker ready, replies, an exit, a timer…) and returns
/// the ``Action``s that follow; it sends nothing, arms no timer, takes no lock and makes no system
/// call. ``ProcessPoolCore`` holds it under its one lock and performs the actions.
///
/// Dispatch is a pull model. Tasks leave the queue in order onto one feed that every worker reads
/// (a `SOCK_SEQPACKET` socket: each message goes whole to exactly one reader, in the order sent),
/// and a worker reads the next message only once it is done with its task. So an idle worker takes
/// the oldest waiting task (FIFO start, work-conserving) and nothing waits behind a long task. Each
/// offering is a word of the pool's ``TaskBoard``: the worker takes it before running it, and marks
/// it done before sending the outcome; the pool revokes what no one took (a cancel, a deadline), and
/// claims a worker's kill only while that worker still runs the task the kill is for. The machine
/// reads the board to learn who took what (``refresh()``): `isRunning`, `statistics` and the room
/// for `maxPending` count what workers took, not what was sent.
///
/// A message a worker received but did not take (it died, or was stopped, in between) is gone from
/// the feed. The machine then revokes every untaken offering and offers it again under a new
/// sequence number (stale copies fail their take and are skipped): at the death of a worker that
/// ran nothing, and when an offering waits past ``Settings/takeTimeout`` while a worker is idle;
/// idle workers that still take nothing after that are killed and replaced.
///
/// ```swift
/// var machine = ProcessPoolStateMachine(settings: .init(maxWorkers: 1), board: board)
/// let actions = try machine.enqueue([task])     // [.spawn(after: nil)]
/// ```
struct ProcessPoolStateMachine {
    struct Settings {
        var maxWorkers: Int
        var maxTasks = 0
        var hasInitializer = false
        var maxPending: Int?
        /// The most offerings on the feed that no worker took yet: enough that a worker never
        /// waits for the pool between tasks, few enough that the feed's socket never fills.
        var feedLimit = 64
        /// The most bytes those offerings may count (``feedCost(of:)``).
        var feedBytes = 96 * 1024
        /// The feed is refilled, up to ``feedLimit``, once it holds this many untaken offerings or
        /// fewer: refills come in batches (one `sendmmsg` for many messages), and an idle worker
        /// still always finds the next task there.
        var feedLowWater = 32
        /// Requests this large or larger are not in the feed message: the worker that takes the
        /// task fetches them on its channel (``JobHeader/requestFollows``).
        var inlineLimit = 32 * 1024
        /// How long an offering may wait untaken while a worker is idle before the pool re-offers
        /// it; after as long again, the idle workers that still took nothing are replaced.
        var takeTimeout = Duration.milliseconds(500)
        /// The machine's clock (a test's own, in the unit tests).
        var now: @Sendable () -> ContinuousClock.Instant = { .now }
        /// ``monotonicNanoseconds()``, the clock of the latency summaries (a test's own, in the
        /// unit tests): tasks note their schedule time and workers their take time on it.
        var nanoseconds: @Sendable () -> UInt64 = { monotonicNanoseconds() }
        /// A serving worker idle this long retires (``checkIdle()``), down to ``minWorkers``;
        /// `nil`: workers are kept.
        var idleTimeout: Duration? = nil
        var minWorkers = 0
    }

    let settings: Settings
    let board: any TaskBoard
    private(set) var lifecycle = Lifecycle.running
    private(set) var pending = FIFO<Queued>()
    /// Offerings on the feed that no worker had taken when the board was last read, in order.
    private(set) var offered: [Offer] = []
    private(set) var workers: [pid_t: WorkerRecord] = [:]
    /// The worker behind each board index in use.
    private var workerAt: [Int: pid_t] = [:]
    private var freeIndexes: [Int] = []
    private var nextIndex = 0
    private var freeSlots: [Int]
    private var nextSequence: UInt64 = 1
    private var offeredBytes = 0
    private var takeCheckArmed = false
    /// Tasks whose board word was found corrupted (``refresh()``); failed by the next dispatch.
    private var corrupted: [any AnyProcessTask] = []
    private(set) var roomWaiters = RoomWaiters<UInt64>()
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
    /// Schedule → taken, of every task a worker took (a map chunk is one).
    private(set) var waitTimes = LatencyHistogram()
    /// Taken → outcome (or the death of its worker), of the same tasks.
    private(set) var runTimes = LatencyHistogram()
    private var idleCheckArmed = false
    /// Workers retired for idleness and not yet gone: nothing is offered meanwhile, so none of
    /// them can take a task in the instant before its kill.
    private(set) var idleRetirees: Set<pid_t> = []

    init(settings: Settings, board: any TaskBoard, slots: Int = ClaimBoard.slots) {
        self.settings = settings
        self.board = board
        freeSlots = Array((0..<slots).reversed())
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
        case .closed, .stopped, .joined: throw PebbleError.notRunning
        }
        if let maxPending = settings.maxPending, room < count {
            throw PebbleError(.queueFull, "the pool holds \(waiting) of at most \(maxPending) pending tasks; \(count) more do not fit")
        }
    }

    /// How many more tasks fit (`Int.max` without `maxPending`). A task counts until a worker takes
    /// it: queued, or offered. Tasks cancelled while queued take no room.
    var room: Int {
        mutating get {
            guard let maxPending = settings.maxPending else { return .max }
            refresh()
            if pending.count + offered.count >= maxPending { pending.removeAll { $0.task.isDone } }
            return max(0, maxPending - pending.count - offered.count)
        }
    }

    /// Tasks no worker has taken: queued (and not cancelled), or offered.
    var waiting: Int {
        mutating get {
            refresh()
            return pending.count { !$0.task.isDone } + offered.count
        }
    }

    /// Tasks workers took and have not finished.
    var running: Int {
        mutating get {
            refresh()
            return workers.values.reduce(0) { count, record in
                count + record.held.count { if case .done = board.state(slot: $0.slot, sequence: $0.sequence) { false } else { true } }
            }
        }
    }

    mutating func enqueue(_ tasks: [any AnyProcessTask]) throws -> [Action] {
        try checkAcceptsWork(adding: tasks.count)
        for task in tasks { pending.append(Queued(task: task)) }
        return dispatchWork()
    }

    mutating func close() -> [Action] {
        guard lifecycle == .running else { return [] }
        lifecycle = .closed
        return dispatchWork() + refuseRoomWaiters()
    }

    /// Stops every worker; the queued tasks and the offerings no worker took fail here, the taken
    /// ones at their worker's exit.
    mutating func stop() -> [Action] {
        switch lifecycle {
        case .stopped, .joined: return []
        default: lifecycle = .stopped
        }
        var actions = [Action.fail(revokeOffered().map(\.task), CancellationError())]
        for pid in workers.keys { actions += stopWorker(pid, reason: .stopped, target: nil) }
        actions.append(.fail(pending.removeAll().map(\.task), CancellationError()))
        return actions + refuseRoomWaiters()
    }

    /// After `join` saw every worker gone.
    mutating func joined() {
        if lifecycle == .closed || lifecycle == .stopped { lifecycle = .joined }
    }

    /// Takes `task` back for `reason` (a cancel, a timeout, a deadline). Queued: removed. Offered:
    /// revoked, so it never runs. Taken: its worker is killed, but only if it still runs this task
    /// (the kill is claimed on the board); a task done meanwhile is left to its outcome. Whatever
    /// is withdrawn completes now, with the reason's error.
    mutating func withdraw(_ task: any AnyProcessTask, reason: StopReason) -> Withdrawal {
        if let index = offered.firstIndex(where: { $0.task === task }) {
            let offer = offered[index]
            if board.revoke(slot: offer.slot, sequence: offer.sequence) {
                offered.remove(at: index)
                offeredBytes -= offer.feedBytes
                release(offer)
                return .withdrawn([.settle(task, reason.error(wasRunning: false))] + dispatchWork())
            }
            refresh() // a worker took it just now
        }
        for (pid, record) in workers {
            guard let offer = record.held.first(where: { $0.task === task }) else { continue }
            if case .stopping = record.phase { return .withdrawn([.settle(task, reason.error)]) }
            guard board.stop(slot: offer.slot, sequence: offer.sequence, worker: record.index) else { return .finishing }
            return .withdrawn([.settle(task, reason.error)] + stopWorker(pid, reason: reason, target: offer.sequence))
        }
        let before = pending.count
        pending.removeAll { $0.task === task }
        guard pending.count < before else { return .notFound }
        // Queued again after its offering was revoked (a worker died): removed, it never runs.
        return .withdrawn([.settle(task, reason.error(wasRunning: false))])
    }

    // MARK: - Async `run` waiting for room

    /// The async `run` call `id` found the queue full: it waits (at the front when it had its turn
    /// and lost the room to another caller), or proceeds when there is room after all.
    mutating func waitForRoom(_ id: UInt64, atFront: Bool) -> RoomDecision {
        guard lifecycle.acceptsWork else { return .refuse }
        if room > 0 && (roomWaiters.isEmpty || atFront) { return .proceed }
        roomWaiters.add(id, id, atFront: atFront)
        return .wait
    }

    /// Waiter `id` leaves (cancelled, or past its deadline); `true` if it was still waiting.
    mutating func stopWaitingForRoom(_ id: UInt64) -> Bool {
        roomWaiters.remove(id) != nil
    }

    /// The waiters that fit in the room there is now, oldest first.
    mutating func wakeRoomWaiters() -> [Action] {
        guard !roomWaiters.isEmpty, lifecycle.acceptsWork else { return refuseRoomWaiters() }
        let woken = roomWaiters.popFirst(room)
        return woken.isEmpty ? [] : [.wakeRoomWaiters(woken)]
    }

    private mutating func refuseRoomWaiters() -> [Action] {
        let refused = roomWaiters.failAll()
        return refused.isEmpty ? [] : [.refuseRoomWaiters(refused)]
    }

    // MARK: - Worker events

    /// A spawned worker registered; returns its board index, or `nil` when the pool stopped
    /// meanwhile and it must be killed.
    mutating func workerSpawned(_ pid: pid_t) -> Int? {
        spawning -= 1
        workersStarted += 1
        let index =
            freeIndexes.popLast()
            ?? {
                nextIndex += 1
                return nextIndex - 1
            }()
        precondition(index < ClaimBoard.workerIndexes, "more live workers than the task board can name")
        workerAt[index] = pid
        let wanted = lifecycle.runsQueuedWork
        workers[pid] = WorkerRecord(
            phase: wanted ? .starting : .stopping(.stopped, target: nil), index: index,
            idleSince: settings.now())
        return wanted ? index : nil
    }

    /// A spawn failed: with no worker alive and none coming, nothing would ever run the queue.
    mutating func spawnFailed(_ error: PebbleError) -> [Action] {
        spawning -= 1
        guard workers.isEmpty && spawning == 0 else { return [] }
        return [.fail(revokeOffered().map(\.task) + pending.removeAll().map(\.task), error)]
    }

    mutating func workerReady(_ pid: pid_t) -> [Action] {
        guard case .starting? = workers[pid]?.phase else { return [] }
        workers[pid]!.phase = .serving
        workers[pid]!.idleSince = settings.now()
        failedStarts = 0
        everReady = true
        spawnBackoff = nil
        return dispatchWork() + armIdleCheck()
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

    /// Worker `pid` took offering `sequence` and said so (it does for tasks with a timeout): the
    /// timeout starts.
    mutating func taskTaken(on pid: pid_t, sequence: UInt64) -> [Action] {
        refresh()
        guard case .serving? = workers[pid]?.phase,
            let offer = workers[pid]!.held.first(where: { $0.sequence == sequence }), offer.task.timeout != nil
        else { return [] }
        return [.armTimeout(offer)]
    }

    /// Worker `pid` took offering `sequence`, whose request was not in the message, and fetched it:
    /// the request goes to it, and the timeout starts. A worker being stopped gets nothing (it
    /// waits for the request until it is killed). A serving worker that fetches a task it did not
    /// take broke the protocol, and is stopped.
    mutating func requestFetched(on pid: pid_t, sequence: UInt64) -> [Action] {
        refresh()
        guard case .serving? = workers[pid]?.phase else { return [] }
        guard let offer = workers[pid]!.held.first(where: { $0.sequence == sequence }) else {
            let error = PebbleError(.protocolViolation, "worker \(pid) fetched the request of a task it did not take")
            return stopWorker(pid, reason: .protocolError(error), target: nil)
        }
        return [.sendRequest(offer, worker: pid)] + (offer.task.timeout == nil ? [] : [.armTimeout(offer)])
    }

    /// The request of offering `sequence` could not be sent to worker `pid`, which waits for it:
    /// the worker is stopped, and its task fails with `error`.
    mutating func requestNotSent(to pid: pid_t, sequence: UInt64, error: PebbleError) -> [Action] {
        guard case .serving? = workers[pid]?.phase else { return [] }
        return stopWorker(pid, reason: .protocolError(error), target: sequence)
    }

    /// `count` outcomes arrived together from worker `pid` (one read): they answer the first
    /// `count` tasks it holds, in order. Returns those tasks (to resolve outside the lock).
    mutating func tasksFinished(on pid: pid_t, count: Int) -> (tasks: [(any AnyProcessTask)?], actions: [Action]) {
        refresh()
        var tasks: [(any AnyProcessTask)?] = []
        tasks.reserveCapacity(count)
        var actions: [Action] = []
        let now = settings.nanoseconds()
        for _ in 0..<count {
            // No copy of the record is kept across the changes: its arrays would be copied on write.
            guard workers[pid] != nil else {
                tasks.append(nil)
                continue
            }
            guard !workers[pid]!.held.isEmpty else {
                tasks.append(nil)
                actions += stopWorker(
                    pid,
                    reason: .protocolError(
                        PebbleError(.protocolViolation, "worker \(pid) sent an outcome with no task running")), target: nil)
                continue
            }
            let answered = workers[pid]!.held.removeFirst()
            recordLatency(of: answered, now: now)
            release(answered)
            if answered.task.timeout != nil { actions.append(.disarm(sequence: answered.sequence)) }
            tasks.append(answered.task)
            guard case .serving = workers[pid]!.phase else { continue } // the reply beat the kill, or the exit
            workers[pid]!.tasksDone += 1
            if let reason = workers[pid]!.retireReason {
                workers[pid]!.phase = .retiring(reason)
            } else if settings.maxTasks > 0 && workers[pid]!.tasksDone >= settings.maxTasks {
                // The worker exits by itself after its last task; the pool makes sure it does.
                workers[pid]!.phase = .retiring(.retired)
                actions.append(.retire(worker: pid))
            }
        }
        if workers[pid]?.held.isEmpty == true {
            workers[pid]!.idleSince = settings.now()
            actions += armIdleCheck()
        }
        return (tasks, actions + dispatchWork())
    }

    mutating func brokeProtocol(_ pid: pid_t, _ error: PebbleError) -> [Action] {
        stopWorker(pid, reason: .protocolError(error), target: nil)
    }

    /// Worker `pid` exited. The tasks it took fail (with the death, or with why the pool stopped
    /// it). If it was running nothing, it may have received a message it never took: every
    /// untaken offering is revoked and offered again. Returns the exit's reason for the events.
    mutating func workerExited(_ pid: pid_t, death: ProcessExpired) -> (reason: WorkerExitReason, actions: [Action]) {
        refresh()
        guard let record = workers.removeValue(forKey: pid) else { return (.diedIdle, []) }
        workerAt[record.index] = nil
        freeIndexes.append(record.index)
        workersExited += 1
        idleRetirees.remove(pid)
        var actions: [Action] = []
        let now = settings.nanoseconds()
        for offer in record.held {
            recordLatency(of: offer, now: now)
            release(offer)
            if offer.task.timeout != nil { actions.append(.disarm(sequence: offer.sequence)) }
        }
        let held = record.held.map(\.task)
        let reason: WorkerExitReason
        var mayHaveSwallowed = false
        switch record.phase {
        case .serving:
            reason = held.isEmpty ? .diedIdle : .crashed
            mayHaveSwallowed = held.isEmpty
            if !held.isEmpty { actions.append(.fail(held, death)) }
        case .stopping(let stopReason, let target):
            reason = stopReason.exitReason
            mayHaveSwallowed = target == nil
            for offer in record.held {
                actions.append(.fail([offer.task], target == nil || target == offer.sequence ? stopReason.error : death))
            }
        case .starting:
            reason = .diedIdle
            actions += diedBeforeReady(death)
        case .retiring(let retireReason):
            reason = retireReason
            if !held.isEmpty { actions.append(.fail(held, death)) }
            // Retired idle by `close` (not at its last task, nor over its memory limit): it was
            // reading the feed when it was killed.
            mayHaveSwallowed =
                held.isEmpty && record.retireReason == nil
                && !(settings.maxTasks > 0 && record.tasksDone >= settings.maxTasks)
        }
        if mayHaveSwallowed { actions += giveBack(revokeOffered()) }
        return (reason, actions + dispatchWork())
    }

    /// The timer of ``Action/checkTakes(after:)`` fired. If the oldest offering waited past the
    /// take timeout while a worker was idle, it was lost (received by a worker that stopped before
    /// taking it) or the idle workers are wedged: the first time, every untaken offering is offered
    /// again; if a re-offered one waits as long again, the workers idle all along are replaced.
    mutating func checkTakes() -> [Action] {
        takeCheckArmed = false
        refresh()
        guard let oldest = offered.first, lifecycle.runsQueuedWork else { return dispatchWork() }
        let now = settings.now()
        guard now - oldest.offeredAt >= settings.takeTimeout else { return dispatchWork() }
        let idle = workers.filter { $0.value.isIdle && now - $0.value.idleSince >= settings.takeTimeout }.map(\.key)
        guard !idle.isEmpty else { return dispatchWork() } // every worker is busy: the wait is the queue's
        var actions: [Action] = []
        if oldest.reoffers > 0 {
            for pid in idle { actions += stopWorker(pid, reason: .unresponsive, target: nil) }
        }
        return actions + giveBack(revokeOffered()) + dispatchWork()
    }

    /// The timer of ``Action/checkIdle(after:)`` fired: serving workers idle for the idle timeout
    /// retire, longest idle first, while more than `minWorkers` serve and no task waits. Arms the
    /// next check for the idle worker that reaches the timeout next.
    mutating func checkIdle() -> [Action] {
        idleCheckArmed = false
        guard let idleTimeout = settings.idleTimeout, lifecycle == .running else { return [] }
        refresh()
        let now = settings.now()
        var actions: [Action] = []
        var serving = workers.values.count { $0.phase.servesTasks } + spawning
        if pending.isEmpty && offered.isEmpty {
            let expired = workers.filter { $0.value.isIdle && now - $0.value.idleSince >= idleTimeout }
                .sorted { $0.value.idleSince < $1.value.idleSince }.map(\.key)
            for pid in expired where serving > settings.minWorkers {
                workers[pid]!.phase = .retiring(.idle)
                idleRetirees.insert(pid)
                serving -= 1
                actions.append(.retire(worker: pid))
            }
        }
        return actions + armIdleCheck(now: now)
    }

    /// Arms the idle check for the idle worker that reaches the idle timeout first, unless one is
    /// armed or no worker could retire.
    private mutating func armIdleCheck(now: ContinuousClock.Instant? = nil) -> [Action] {
        guard let idleTimeout = settings.idleTimeout, !idleCheckArmed, lifecycle == .running,
            workers.values.count(where: { $0.phase.servesTasks }) + spawning > settings.minWorkers,
            let oldest = workers.values.lazy.filter(\.isIdle).map(\.idleSince).min()
        else { return [] }
        idleCheckArmed = true
        var delay = oldest + idleTimeout - (now ?? settings.now())
        // A worker idle past the timeout that could not retire (work is waiting): look again later.
        if delay <= .zero { delay = idleTimeout }
        return [.checkIdle(after: delay)]
    }

    /// Records the wait and the run of a task taken by a worker, whose outcome (or its worker's
    /// death) is handled at `now`. The take time comes from the board, written by the worker;
    /// it is bounded by the schedule time and `now`.
    private mutating func recordLatency(of offer: Offer, now: UInt64) {
        let scheduled = offer.task.scheduledAt
        let taken = min(max(board.takenAt(slot: offer.slot), scheduled), max(now, scheduled))
        waitTimes.record(.nanoseconds(Int64(clamping: taken - scheduled)))
        runTimes.record(.nanoseconds(Int64(clamping: max(now, scheduled) - taken)))
    }

    // MARK: - Decisions

    /// Moves the offerings workers took from ``offered`` to their workers' records, in the order
    /// taken (a worker takes in sequence order, one task at a time).
    ///
    /// Only a prefix of ``offered`` is read: workers receive messages in feed order and take each
    /// at once, so an offering still untaken ahead of a taken one was received by a worker that has
    /// not taken it yet (or stopped, or died, before it did), at most one per worker. Past more
    /// untaken offerings than there are workers, nothing is taken yet.
    ///
    /// The board is memory the workers' jobs could scribble on: a word the pool never wrote (a
    /// revoked or moved offering still listed, an unknown worker) loses that offering, whose task
    /// fails with `.protocolViolation` at the next dispatch (``corrupted``) instead of crashing
    /// the pool.
    private mutating func refresh() {
        guard !offered.isEmpty else { return }
        var kept = 0, untaken = 0, position = 0
        while position < offered.count && untaken <= workers.count {
            let offer = offered[position]
            position += 1
            let state = board.state(slot: offer.slot, sequence: offer.sequence)
            if state == .offered {
                if kept != position - 1 { offered[kept] = offer }
                kept += 1
                untaken += 1
                continue
            }
            offeredBytes -= offer.feedBytes
            guard let index = state.worker, let pid = workerAt[index] else {
                release(offer)
                corrupted.append(offer.task)
                continue
            }
            if let later = workers[pid]!.held.firstIndex(where: { $0.sequence > offer.sequence }) {
                workers[pid]!.held.insert(offer, at: later)
            } else {
                workers[pid]!.held.append(offer)
            }
        }
        if kept < position { offered.removeSubrange(kept..<position) }
    }

    /// Offers queued tasks in order while the feed has room, retires workers no longer needed,
    /// asks for spawns, and arms the take check while offerings wait.
    private mutating func dispatchWork() -> [Action] {
        refresh()
        let refill = !pending.isEmpty && offered.count <= settings.feedLowWater
        assert(offered.isEmpty == (offeredBytes == 0), "the feed's byte count drifted: \(offeredBytes) for \(offered.count) offerings")
        var actions: [Action] = []
        if !corrupted.isEmpty {
            actions.append(.fail(corrupted, PebbleError(.protocolViolation, "a task's word on the pool's task board was overwritten")))
            corrupted.removeAll()
        }
        if refill && lifecycle.runsQueuedWork && idleRetirees.isEmpty && workers.values.contains(where: { $0.phase.servesTasks }) {
            var batch: [Offer] = []
            let now = settings.now()
            while offered.count < settings.feedLimit && offeredBytes < settings.feedBytes, let queued = pending.popFirst() {
                guard !queued.task.isDone else { continue }
                guard let slot = freeSlots.popLast() else {
                    pending.prepend(queued)
                    break
                }
                guard queued.task.offer(slot: slot, sequence: nextSequence, on: board) else {
                    freeSlots.append(slot)
                    continue
                }
                let offer = Offer(
                    task: queued.task, slot: slot, sequence: nextSequence, offeredAt: now,
                    reoffers: queued.reoffers, feedBytes: feedCost(of: queued.task))
                nextSequence += 1
                board.offer(slot: slot, sequence: offer.sequence)
                offered.append(offer)
                offeredBytes += offer.feedBytes
                batch.append(offer)
            }
            if !batch.isEmpty { actions.append(.offer(batch)) }
        }
        if !lifecycle.acceptsWork && (pending.isEmpty && offered.isEmpty || !lifecycle.runsQueuedWork) {
            for pid in workers.keys where workers[pid]!.isIdle {
                workers[pid]!.phase = .retiring(.retired)
                actions.append(.retire(worker: pid))
            }
        }
        if !offered.isEmpty && !takeCheckArmed && lifecycle.runsQueuedWork {
            takeCheckArmed = true
            actions.append(.checkTakes(after: settings.takeTimeout))
        }
        guard lifecycle.runsQueuedWork else { return actions }
        // While running, the pool keeps maxWorkers workers from the first task on, and replaces a
        // dying one at once (it no longer counts); once closed, it starts workers only for queued
        // tasks. An elastic pool (idleTimeout) keeps minWorkers and starts more for the tasks
        // workers hold and the tasks waiting, up to maxWorkers.
        let serving = workers.values.count { $0.phase.servesTasks } + spawning
        let starting = workers.values.count { if case .starting = $0.phase { true } else { false } }
        let queued = pending.count + offered.count
        let wanted: Int
        if !lifecycle.acceptsWork {
            wanted = min(settings.maxWorkers, serving + max(0, queued - starting - spawning))
        } else if settings.idleTimeout != nil {
            let busy = workers.values.count { $0.phase.servesTasks && !$0.held.isEmpty }
            wanted = min(settings.maxWorkers, max(settings.minWorkers, busy + queued))
        } else {
            wanted = settings.maxWorkers
        }
        for _ in serving..<max(serving, wanted) {
            spawning += 1
            actions.append(.spawn(after: spawnBackoff))
        }
        return actions
    }

    /// What an offering of `task` counts against ``Settings/feedBytes``: its bytes when it travels
    /// in the message, and the kernel's overhead of a message either way.
    func feedCost(of task: any AnyProcessTask) -> Int {
        (task.request.count < settings.inlineLimit ? task.request.count : 0) + 1024
    }

    /// The slot of an offering that is answered, failed or revoked is free again.
    private mutating func release(_ offer: Offer) {
        freeSlots.append(offer.slot)
    }

    /// Revokes every offering no worker took, in order, and returns them; those taken meanwhile
    /// go to their workers.
    private mutating func revokeOffered() -> [Offer] {
        var revoked: [Offer] = []
        var kept: [Offer] = []
        for offer in offered {
            if board.revoke(slot: offer.slot, sequence: offer.sequence) {
                offeredBytes -= offer.feedBytes
                release(offer)
                revoked.append(offer)
            } else {
                kept.append(offer)
            }
        }
        offered = kept
        refresh()
        return revoked
    }

    /// Revoked offerings: back to the head of the queue, in order, while the pool runs queued
    /// work; failed otherwise.
    private mutating func giveBack(_ offers: [Offer]) -> [Action] {
        guard !offers.isEmpty else { return [] }
        switch lifecycle {
        case .running, .closed:
            for offer in offers.reversed() where offer.task.requeue() {
                pending.prepend(Queued(task: offer.task, reoffers: offer.reoffers + 1))
            }
            return []
        case .broken(let error):
            return [.fail(offers.map(\.task), error)]
        case .stopped, .joined:
            return [.fail(offers.map(\.task), CancellationError())]
        }
    }

    /// Marks worker `pid` as stopping for `reason` (aimed at offering `target`, if any).
    private mutating func stopWorker(_ pid: pid_t, reason: StopReason, target: UInt64?) -> [Action] {
        guard let record = workers[pid] else { return [] }
        if case .stopping = record.phase { return [] }
        workers[pid]!.phase = .stopping(reason, target: target)
        return [.kill(worker: pid)]
    }

    /// A worker died before it was ready. With an initializer, that is the initializer's failure:
    /// at once if no worker was ever ready, after ``initializerDeathLimit`` in a row otherwise (it
    /// started crashing). Without one, ``startFailureLimit`` in a row before any worker was ready
    /// mean workers cannot start here. Otherwise (killed from outside) the next spawn waits a
    /// backoff that doubles with each death in a row, from 1 ms to 1 s.
    private mutating func diedBeforeReady(_ death: ProcessExpired) -> [Action] {
        failedStarts += 1
        if settings.hasInitializer && (!everReady || failedStarts >= Self.initializerDeathLimit) {
            return breakPool(
                PebbleError(.initializerFailed, "\(failedStarts) worker(s) in a row died while running the initializer; last: \(death)"))
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
        return [.fail(revokeOffered().map(\.task) + pending.removeAll().map(\.task), error)] + refuseRoomWaiters()
    }
}
