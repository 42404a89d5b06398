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
        case .value, .error, .decodingFailed, .encodingFailed, .tooLarge:
            taskFinished(on: pid, kind, body)
        case .retiring:
            // Above maxResidentMemory: the outcome follows, then the worker exits by itself.
            guard case .memoryLimit? = WorkerRetirement(decoding: body) else {
                return self.worker(worker, brokeProtocol: PebbleError(.protocolViolation, "worker \(pid) sent a malformed retiring message"))
            }
            perform(decide { $0.workerWillRetire(pid, reason: .memoryLimit); return [] })
        case .hello, .job:
            self.worker(worker, brokeProtocol: PebbleError(.protocolViolation, "worker \(pid) sent a parent-only message"))
        }
    }

    /// Replies that came in one read, in order: one lock, one dispatch for them all.
    func worker(_ worker: WorkerProcess, answered replies: [(kind: MessageKind, body: ArraySlice<UInt8>)]) {
        let (tasks, steps): ([(any AnyProcessTask)?], [Step]) = state.withLock { locked in
            let (tasks, actions) = locked.machine.tasksFinished(on: worker.pid, count: replies.count)
            return (tasks, prepare(actions, &locked))
        }
        perform(steps)
        for (task, reply) in zip(tasks, replies) { task?.resolve(reply.kind, reply.body) }
    }

    func worker(_ worker: WorkerProcess, brokeProtocol error: PebbleError) {
        perform(decide { $0.brokeProtocol(worker.pid, error) })
    }

    func worker(_ worker: WorkerProcess, exitedWith status: Int32?) {
        // Before the lock: with captured output this reads what is left in the worker's stderr pipe.
        let death = worker.expired(waitStatus: status)
        let (reason, steps): (ProcessPool.WorkerExitReason, [Step]) = state.withLock { locked in
            locked.processes.removeValue(forKey: worker.pid)
            let (reason, actions) = locked.machine.workerExited(worker.pid, death: death)
            return (reason, prepare(actions, &locked))
        }
        perform(steps)
        events.send(.workerExited(pid: worker.pid, status: status.map(TerminationStatus.init(waitStatus:)), reason: reason))
    }

    func workerGone(_ worker: WorkerProcess) {
        liveWorkers.leave()
    }

    private func taskFinished(on pid: pid_t, _ kind: MessageKind, _ body: ArraySlice<UInt8>) {
        let (task, steps): ((any AnyProcessTask)?, [Step]) = state.withLock { locked in
            let (task, actions) = locked.machine.taskFinished(on: pid)
            return (task, prepare(actions, &locked))
        }
        perform(steps)
        task?.resolve(kind, body)
    }

    // MARK: - Spawning

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
        let output = configuration.workerOutput == .capture ? WorkerOutputCapture.open() : nil
        let worker = WorkerProcess(spawned, messageLimit: configuration.maxMessageSize, events: self, output: output,
                                   target: channelQueue)
        let wanted: Bool = state.withLock { locked in
            locked.processes[worker.pid] = worker
            return locked.machine.workerSpawned(worker.pid, claims: worker.claims)
        }
        worker.start()
        events.send(.workerStarted(pid: worker.pid))
        if wanted {
            worker.sendHello(hello)
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
