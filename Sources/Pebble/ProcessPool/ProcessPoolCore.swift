// SPDX-License-Identifier: Apache-2.0
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// The state machine behind a ``ProcessPool``: one lock over all of its state; every event handler
/// decides under the lock and returns ``Action``s that are performed outside it.
final class ProcessPoolCore: WorkerEvents {
    let configuration: ProcessPool.Configuration
    /// The hello message every new worker gets: the message limit and the initializer, if any.
    let hello: [UInt8]
    let state = StateLock(State())
    /// Entered for every worker from the moment its spawn is decided until it is reaped.
    let liveWorkers = DispatchGroup()
    /// Timeout timers fire here, so that a worker queue busy sending a large job cannot delay them.
    let timerQueue = DispatchQueue(label: "pebble.process-pool.timers")

    init(configuration: ProcessPool.Configuration, hello: [UInt8]) {
        self.configuration = configuration
        self.hello = hello
    }

    // MARK: - Calls from the pool

    func enqueue(_ tasks: [any AnyProcessTask]) throws {
        let actions: [Action] = try state.withLock { state in
            switch state.lifecycle {
            case .running: break
            case .broken(let error): throw error
            case .closed, .stopped, .joined:
                throw PebbleError(.poolNotRunning, "the pool was closed or stopped; create a new pool to schedule more work")
            }
            for task in tasks { state.pending.append(task) }
            return dispatchWork(&state)
        }
        perform(actions)
    }

    func close() {
        let actions: [Action] = state.withLock { state in
            guard state.lifecycle == .running else { return [] }
            state.lifecycle = .closed
            return dispatchWork(&state)
        }
        perform(actions)
    }

    /// Stops every worker and fails every unfinished future; returns once every worker is reaped.
    func stop() {
        let (dropped, actions): ([any AnyProcessTask], [Action]) = state.withLock { state in
            switch state.lifecycle {
            case .stopped, .joined: return ([], [])
            default: state.lifecycle = .stopped
            }
            var actions: [Action] = []
            for pid in state.workers.keys {
                if let action = stopWorker(&state, pid, reason: .stopped) { actions.append(action) }
            }
            return (state.pending.removeAll(), actions)
        }
        perform(actions + [.fail(dropped, CancellationError())])
        liveWorkers.wait()
    }

    func join(timeout: Duration?) throws {
        let lifecycle = state.withLock { $0.lifecycle }
        if lifecycle == .running {
            throw PebbleError(.poolStillRunning, "join() needs close() or stop() first")
        }
        if liveWorkers.wait(timeout: deadline(after: timeout)) == .timedOut {
            throw PebbleError(.waitTimedOut, "tasks are still running after \(timeout ?? .zero)")
        }
        state.withLock { state in
            if state.lifecycle == .closed || state.lifecycle == .stopped { state.lifecycle = .joined }
        }
    }

    var isActive: Bool { state.withLock { $0.lifecycle.runsQueuedWork } }

    // MARK: - Scheduling

    /// Hands pending tasks to idle workers, retires workers no longer needed, and asks for spawns.
    func dispatchWork(_ state: inout State) -> [Action] {
        var actions: [Action] = []
        for pid in state.workers.keys {
            guard case .idle = state.workers[pid]!.phase else { continue }
            if state.lifecycle.runsQueuedWork, let running = nextTask(&state, worker: pid) {
                state.workers[pid]!.phase = .busy(running)
                actions.append(.send(state.workers[pid]!.process, running))
            } else if !state.lifecycle.acceptsWork {
                state.workers[pid]!.phase = .retiring
                actions.append(.retire(state.workers[pid]!.process))
            }
        }
        guard state.lifecycle.runsQueuedWork else { return actions }
        // While running, the pool keeps maxWorkers workers from the first task on, and replaces a
        // dying one at once (it no longer counts); once closed, it starts workers only for queued tasks.
        let serving = state.workers.values.count { $0.phase.servesTasks } + state.spawning
        let starting = state.workers.values.count { if case .starting = $0.phase { true } else { false } }
        let wanted = state.lifecycle.acceptsWork
            ? configuration.maxWorkers
            : min(configuration.maxWorkers, serving + max(0, state.pending.count - starting - state.spawning))
        for _ in serving..<max(serving, wanted) {
            state.spawning += 1
            liveWorkers.enter()
            actions.append(.spawn(after: state.spawnBackoff))
        }
        return actions
    }

    /// The next pending task that was not cancelled, marked running on worker `pid`.
    private func nextTask(_ state: inout State, worker pid: pid_t) -> RunningTask? {
        while let task = state.pending.popFirst() {
            let stopHandler: @Sendable () -> Bool = { [weak self, weak task] in
                guard let self, let task else { return false }
                return self.stopTask(task, on: pid, reason: .cancelled)
            }
            if task.start(stopHandler: stopHandler) {
                state.workers[pid]!.jobsSent += 1
                return RunningTask(task: task, timer: task.timeout.map { makeTimer($0, task: task, worker: pid) },
                                   sequence: state.workers[pid]!.jobsSent)
            }
        }
        return nil
    }

    private func makeTimer(_ timeout: Duration, task: any AnyProcessTask, worker pid: pid_t) -> any DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: timerQueue)
        timer.schedule(deadline: timeout.deadlineFromNow)
        timer.setEventHandler { [weak self, weak task] in
            guard let self, let task else { return }
            self.stopTask(task, on: pid, reason: .timeout(timeout))
        }
        return timer
    }

    /// Stops the worker running `task` (for a timeout, or as the stop handler of its future when it
    /// is cancelled). `true` if the task was still running there. A cancel completes the future
    /// with `CancellationError` under the pool's lock, so a reply arriving after it cannot win.
    @discardableResult
    func stopTask(_ task: any AnyProcessTask, on pid: pid_t, reason: StopReason) -> Bool {
        let (action, notify): (Action?, (@Sendable () -> Void)?) = state.withLock { state in
            guard case .busy(let running)? = state.workers[pid]?.phase, running.task === task else { return (nil, nil) }
            var notify: (@Sendable () -> Void)?
            if case .cancelled = reason {
                guard let settled = task.settle(CancellationError()) else { return (nil, nil) }
                notify = settled
            }
            return (stopWorker(&state, pid, reason: reason), notify)
        }
        guard let action else { return false }
        notify?()
        perform([action])
        return true
    }

    /// Marks worker `pid` as stopping; its running task (if any) will fail with `reason`'s error.
    func stopWorker(_ state: inout State, _ pid: pid_t, reason: StopReason) -> Action? {
        guard let record = state.workers[pid] else { return nil }
        switch record.phase {
        case .stopping:
            return nil
        case .busy(var running):
            running.timer?.cancel()
            running.stopReason = running.stopReason ?? reason
            state.workers[pid]!.phase = .stopping(running)
        case .starting, .idle, .retiring:
            state.workers[pid]!.phase = .stopping(nil)
        }
        return .kill(record.process)
    }

    // MARK: - Performing actions

    func perform(_ actions: [Action]) {
        for action in actions {
            switch action {
            case .send(let worker, let running):
                running.timer?.resume()
                worker.send(running.task.request)
            case .spawn(let backoff?):
                DispatchQueue.global().asyncAfter(deadline: backoff.deadlineFromNow) { self.spawnWorker() }
            case .spawn(nil):
                spawnWorker()
            case .retire(let worker):
                worker.retire()
            case .kill(let worker):
                kill(worker)
            case .fail(let tasks, let error):
                for task in tasks { task.fail(error) }
            }
        }
    }

    /// SIGKILL at once, or SIGTERM and SIGKILL after the grace period.
    func kill(_ worker: WorkerProcess) {
        guard let grace = configuration.terminationGracePeriod else {
            return worker.signal(SIGKILL)
        }
        worker.signal(SIGTERM)
        DispatchQueue.global().asyncAfter(deadline: grace.deadlineFromNow) { worker.signal(SIGKILL) }
    }

    func spawnWorker() {
        switch configuration.startMethod.kind {
        case .zygote:
            Zygote.shared.spawn(name: configuration.workerName) { [self] result in
                switch result {
                case .success(let spawned):
                    let worker = workerStarted(spawned)
                    return { status in worker.zygoteReported(status) }
                case .failure(let error):
                    spawnFailed(error)
                    return nil
                }
            }
        case .spawn:
            do {
                _ = workerStarted(try WorkerSpawner.spawn(name: configuration.workerName))
            } catch {
                spawnFailed(error as? PebbleError ?? PebbleError(.spawnFailed, "\(error)"))
            }
        }
    }

    /// Registers a started worker and greets it, or stops it at once if the pool stopped meanwhile.
    private func workerStarted(_ spawned: SpawnedWorker) -> WorkerProcess {
        let worker = WorkerProcess(spawned, messageLimit: configuration.maxMessageSize, events: self)
        let stopAtOnce: Bool = state.withLock { state in
            state.spawning -= 1
            let stopping = !state.lifecycle.runsQueuedWork
            state.workers[worker.pid] = WorkerRecord(process: worker, phase: stopping ? .stopping(nil) : .starting)
            return stopping
        }
        worker.start()
        if stopAtOnce {
            kill(worker)
        } else {
            worker.send(hello)
        }
        return worker
    }

    private func spawnFailed(_ error: PebbleError) {
        let dropped: [any AnyProcessTask] = state.withLock { state in
            state.spawning -= 1
            // With other workers alive the queue is still served; with none, nothing would ever run it.
            return state.workers.isEmpty && state.spawning == 0 ? state.pending.removeAll() : []
        }
        for task in dropped { task.fail(error) }
        liveWorkers.leave()
    }
}

extension ProcessPoolCore {
    /// Throws what `schedule` must throw when the pool takes no work.
    func checkAcceptsWork() throws {
        switch state.withLock({ $0.lifecycle }) {
        case .running: return
        case .broken(let error): throw error
        case .closed, .stopped, .joined:
            throw PebbleError(.poolNotRunning, "the pool was closed or stopped; create a new pool to schedule more work")
        }
    }
}
