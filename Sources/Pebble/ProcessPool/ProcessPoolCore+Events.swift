// SPDX-License-Identifier: Apache-2.0
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ProcessPoolCore {
    func worker(_ worker: WorkerProcess, sent kind: MessageKind, body: ArraySlice<UInt8>) {
        switch kind {
        case .ready: workerReady(worker)
        case .initializerFailed: initializerFailed(worker, String(decoding: body, as: UTF8.self))
        case .value, .error, .decodingFailed, .encodingFailed, .tooLarge: taskFinished(on: worker, kind, body)
        case .hello, .job:
            self.worker(worker, brokeProtocol: PebbleError(.protocolViolation, "worker \(worker.pid) sent a parent-only message"))
        }
    }

    func worker(_ worker: WorkerProcess, brokeProtocol error: PebbleError) {
        let action = state.withLock { stopWorker(&$0, worker.pid, reason: .protocolError(error)) }
        perform(action.map { [$0] } ?? [])
    }

    func worker(_ worker: WorkerProcess, exitedWith status: Int32?) {
        let (failure, actions): ((any AnyProcessTask, any Error)?, [Action]) = state.withLock { state in
            guard let record = state.workers.removeValue(forKey: worker.pid) else { return (nil, []) }
            var failure: (any AnyProcessTask, any Error)?
            var actions: [Action] = []
            switch record.phase {
            case .busy(let running) where worker.startedJobs < running.sequence:
                running.timer?.cancel()
                if running.task.requeue() { state.pending.prepend(running.task) }
            case .busy(let running):
                running.timer?.cancel()
                failure = (running.task, ProcessExpired(pid: worker.pid, waitStatus: status))
            case .stopping(let running?):
                failure = (running.task, running.stopReason?.error ?? ProcessExpired(pid: worker.pid, waitStatus: status))
            case .starting:
                actions += diedBeforeReady(&state, ProcessExpired(pid: worker.pid, waitStatus: status))
            case .idle, .retiring, .stopping(nil):
                break
            }
            return (failure, actions + dispatchWork(&state))
        }
        if let (task, error) = failure { task.fail(error) }
        perform(actions)
    }

    func workerGone(_ worker: WorkerProcess) {
        liveWorkers.leave()
    }

    private func workerReady(_ worker: WorkerProcess) {
        let actions: [Action] = state.withLock { state in
            guard case .starting? = state.workers[worker.pid]?.phase else { return [] }
            state.workers[worker.pid]!.phase = .idle
            state.failedStarts = 0
            state.everReady = true
            state.spawnBackoff = nil
            return dispatchWork(&state)
        }
        perform(actions)
    }

    private func initializerFailed(_ worker: WorkerProcess, _ message: String) {
        let error = PebbleError(.initializerFailed, "the process pool's initializer threw: \(message)")
        let actions: [Action] = state.withLock { state in
            if case .starting? = state.workers[worker.pid]?.phase { state.workers[worker.pid]!.phase = .retiring }
            return breakPool(&state, error) + dispatchWork(&state)
        }
        perform(actions)
    }

    /// A worker died before it was ready. If no worker of this pool was ever ready, that is the
    /// initializer's failure (with one), or workers cannot start here (three in a row): the pool
    /// breaks rather than respawning in a hot loop. Otherwise the next spawn waits a backoff that
    /// doubles with each death in a row, from 1 ms to 1 s.
    private func diedBeforeReady(_ state: inout State, _ death: ProcessExpired) -> [Action] {
        state.failedStarts += 1
        if !state.everReady && (configuration.initializer != nil) {
            return breakPool(&state, PebbleError(.initializerFailed, "a worker died while running the initializer: \(death)"))
        }
        if !state.everReady && state.failedStarts >= 3 {
            return breakPool(&state, PebbleError(.spawnFailed, "3 workers in a row died before they were ready; last: \(death)"))
        }
        state.spawnBackoff = .milliseconds(1 << min(state.failedStarts - 1, 10))
        return []
    }

    private func breakPool(_ state: inout State, _ error: PebbleError) -> [Action] {
        guard state.lifecycle.runsQueuedWork else { return [] }
        state.lifecycle = .broken(error)
        return [.fail(state.pending.removeAll(), error)]
    }

    private func taskFinished(on worker: WorkerProcess, _ kind: MessageKind, _ body: ArraySlice<UInt8>) {
        let (task, actions): ((any AnyProcessTask)?, [Action]) = state.withLock { state in
            guard let record = state.workers[worker.pid] else { return (nil, []) }
            switch record.phase {
            case .busy(let running):
                running.timer?.cancel()
                let tasksDone = record.tasksDone + 1
                state.workers[worker.pid]!.tasksDone = tasksDone
                var actions: [Action] = []
                if configuration.maxTasks > 0 && tasksDone >= configuration.maxTasks {
                    state.workers[worker.pid]!.phase = .retiring
                    actions.append(.retire(worker))
                } else {
                    state.workers[worker.pid]!.phase = .idle
                }
                return (running.task, actions + dispatchWork(&state))
            case .stopping(let running?):
                // The reply beat the kill: the task did finish.
                return (running.task, [])
            default:
                return (nil, [stopWorker(&state, worker.pid, reason: .stopped)].compactMap { $0 })
            }
        }
        perform(actions)
        task?.resolve(kind, body)
    }
}
