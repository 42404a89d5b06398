// SPDX-License-Identifier: Apache-2.0
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What worker processes report, turned into events of the state machine.
extension ProcessPoolCore {
    func worker(_ worker: WorkerProcess, sent kind: MessageKind, body: ArraySlice<UInt8>) {
        let pid = worker.pid
        switch kind {
        case .ready:
            perform(decide { $0.workerReady(pid) })
        case .initializerFailed:
            let message = String(decoding: body, as: UTF8.self)
            perform(decide { $0.initializerFailed(pid, message) })
        case .started, .fetch:
            guard body.count == 8 else {
                return self.worker(worker, brokeProtocol: PebbleError(.protocolViolation, "worker \(pid) sent a malformed \(kind) message"))
            }
            var sequence: UInt64 = 0
            for (offset, byte) in body.enumerated() { sequence |= UInt64(byte) << (8 * offset) }
            if kind == .fetch {
                perform(decide { $0.requestFetched(on: pid, sequence: sequence) })
            } else {
                perform(decide { $0.taskTaken(on: pid, sequence: sequence) })
            }
        case .value, .error, .decodingFailed, .encodingFailed, .tooLarge, .usage:
            preconditionFailure("outcomes and their usage arrive through worker(_:answered:)")
        case .retiring:
            // Above maxResidentMemory: the outcome follows, then the worker exits by itself.
            guard case .memoryLimit? = WorkerRetirement(decoding: body) else {
                return self.worker(
                    worker, brokeProtocol: PebbleError(.protocolViolation, "worker \(pid) sent a malformed retiring message"))
            }
            perform(
                decide {
                    $0.workerWillRetire(pid, reason: .memoryLimit)
                    return []
                })
        case .hello, .job, .request:
            self.worker(worker, brokeProtocol: PebbleError(.protocolViolation, "worker \(pid) sent a parent-only message"))
        }
    }

    /// Replies that came in one read, in order: one lock, one dispatch for them all.
    func worker(_ worker: WorkerProcess, answered replies: [(kind: MessageKind, body: ArraySlice<UInt8>)]) {
        if configuration.recordsResourceUsage { return self.worker(worker, answeredWithUsage: replies) }
        let (tasks, steps): ([(any AnyProcessTask)?], [Step]) = state.withLock { locked in
            let (tasks, actions) = locked.machine.tasksFinished(on: worker.pid, count: replies.count)
            return (tasks, prepare(actions, &locked))
        }
        // What the worker writes to stderr from now on belongs to its next task.
        worker.output?.taskStarting()
        perform(steps)
        // Messages the feed could not take at the last flush go out now that workers took some.
        if feed.hasPosted { feed.flush() }
        for (task, reply) in zip(tasks, replies) { task?.resolve(reply.kind, reply.body, usage: nil) }
    }

    /// ``worker(_:answered:)`` with `recordsResourceUsage`: each outcome follows the
    /// ``UsageReport`` of its task (in the same read, or carried over from the previous one). The
    /// reports are decoded and checked once, before the lock, which then only keeps the worker's
    /// last report and the one whose outcome comes with the next read.
    private func worker(_ worker: WorkerProcess, answeredWithUsage frames: [(kind: MessageKind, body: ArraySlice<UInt8>)]) {
        let pid = worker.pid
        // The report just before each outcome in this read (nil: none, so the first outcome's is
        // the one carried over), the last report, and a report no outcome followed yet.
        var reports: [UsageReport?] = []
        reports.reserveCapacity(frames.count)
        var last: UsageReport?
        var pending: UsageReport?
        for frame in frames {
            if frame.kind == .usage {
                guard let report = UsageReport(decoding: frame.body) else {
                    return self.worker(
                        worker, brokeProtocol: PebbleError(.protocolViolation, "worker \(pid) sent a malformed usage message"))
                }
                last = report
                pending = report
            } else {
                reports.append(pending)
                pending = nil
            }
        }
        let (carried, tasks, steps): (UsageReport?, [(any AnyProcessTask)?], [Step]) = state.withLock { locked in
            let carried = locked.carriedUsage.isEmpty ? nil : locked.carriedUsage.removeValue(forKey: pid)
            if let last { locked.lastUsage[pid] = last }
            if let stillPending = pending ?? (reports.isEmpty ? carried : nil) { locked.carriedUsage[pid] = stillPending }
            guard !reports.isEmpty else { return (nil, [], []) }
            let (tasks, actions) = locked.machine.tasksFinished(on: pid, count: reports.count)
            return (carried, tasks, prepare(actions, &locked))
        }
        guard !tasks.isEmpty else { return }
        worker.output?.taskStarting()
        perform(steps)
        if feed.hasPosted { feed.flush() }
        var index = 0
        for frame in frames where frame.kind != .usage {
            let report = reports[index] ?? (index == 0 ? carried : nil)
            tasks[index]?.resolve(frame.kind, frame.body, usage: report?.task)
            index += 1
        }
    }

    func worker(_ worker: WorkerProcess, brokeProtocol error: PebbleError) {
        perform(decide { $0.brokeProtocol(worker.pid, error) })
    }

    func worker(_ worker: WorkerProcess, couldNotSendRequestOf sequence: UInt64, error: PebbleError) {
        perform(decide { $0.requestNotSent(to: worker.pid, sequence: sequence, error: error) })
    }

    /// The worker exited with wait status `status`, having used `lifetime` over its life (`wait4`'s
    /// rusage; `nil`: unknown). With `recordsResourceUsage`, the tasks it dies holding get that
    /// usage, less the CPU time it reported before (``UsageReport/deadWorkerUsage(lifetime:reported:)``).
    func worker(_ worker: WorkerProcess, exitedWith status: Int32?, usage lifetime: ResourceUsage?) {
        // Before the lock: with captured output this reads what is left in the worker's stderr pipe.
        var death = worker.expired(waitStatus: status)
        let (reason, steps): (ProcessPool.WorkerExitReason, [Step]) = state.withLock { locked in
            locked.processes.removeValue(forKey: worker.pid)
            if configuration.recordsResourceUsage {
                let reported = locked.lastUsage.removeValue(forKey: worker.pid)
                locked.carriedUsage.removeValue(forKey: worker.pid)
                if let lifetime { death.resourceUsage = UsageReport.deadWorkerUsage(lifetime: lifetime, reported: reported) }
            }
            let (reason, actions) = locked.machine.workerExited(worker.pid, death: death)
            return (reason, prepare(actions, &locked))
        }
        perform(steps)
        events.send(.workerExited(pid: worker.pid, status: status.map(TerminationStatus.init(waitStatus:)), reason: reason))
    }

    func workerGone(_ worker: WorkerProcess) {
        // The last worker of a pool that takes no more work: no worker will read the feed or map
        // the board again, so their descriptors close before `stop` or `join` return, not whenever
        // the last reference to the pool goes (a grace period's pending SIGKILL holds it a while).
        let finished = state.withLock { locked in
            !locked.machine.lifecycle.acceptsWork && locked.machine.workers.isEmpty && locked.machine.spawning == 0
        }
        if finished {
            feed.close()
            board.closeDescriptor()
        }
        liveWorkers.leave()
    }

    // MARK: - Spawning

    func spawnWorker() {
        switch configuration.startMethod.kind {
        case .zygote:
            Zygote.shared.spawn(name: configuration.workerName) { [self] result in
                switch result {
                case .success(let spawned):
                    let worker = workerStarted(spawned)
                    return { status, usage in worker.zygoteReported(status, usage: usage) }
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

    /// Registers a started worker and greets it (with the task feed and the task board attached),
    /// or stops it at once if the pool stopped meanwhile.
    private func workerStarted(_ spawned: SpawnedWorker) -> WorkerProcess {
        let output = configuration.workerOutput == .capture ? WorkerOutputCapture.open() : nil
        let worker = WorkerProcess(
            spawned, messageLimit: configuration.maxMessageSize, events: self, output: output,
            target: channelQueue)
        let index: Int? = state.withLock { locked in
            locked.processes[worker.pid] = worker
            return locked.machine.workerSpawned(worker.pid)
        }
        worker.start()
        events.send(.workerStarted(pid: worker.pid))
        if let index {
            let hello = hello(index: index)
            feed.withWorkerEnd { feedEnd in
                board.withDescriptor { boardFD in worker.sendHello(hello, passing: [feedEnd, boardFD].filter { $0 >= 0 }) }
            }
        } else {
            kill(worker)
        }
        return worker
    }

    private func spawnFailed(_ error: PebbleError) {
        perform(decide { $0.spawnFailed(error) })
        liveWorkers.leave()
    }
}
