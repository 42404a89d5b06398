// SPDX-License-Identifier: Apache-2.0
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ProcessPoolCore {
    /// An action of the machine, resolved to the objects it acts on; performed outside the lock.
    enum Step {
        /// Send what the worker's outbox holds (the requests were posted to it under the lock,
        /// in the order decided).
        case send(WorkerProcess)
        /// The worker takes its next task now: start its timeout timer, if it has one, and mark
        /// where its stderr begins for the diagnostics.
        case taskTaken(WorkerProcess, timer: (any DispatchSourceTimer)?)
        case spawn(after: Duration?)
        case retire(WorkerProcess)
        case kill(WorkerProcess)
        case cancelTimer(any DispatchSourceTimer)
        case fail([any AnyProcessTask], any Error)
        /// Async `run` calls that may now find room in the queue.
        case wake([CheckedContinuation<Void, any Error>])
    }

    /// Resolves `actions` under the lock, doing the bookkeeping that must not be separated from
    /// the decision: `liveWorkers` is entered for each spawn (so `join` never sees an empty group
    /// while a worker is about to start), timers are created and dropped.
    func prepare(_ actions: [ProcessPoolStateMachine.Action], _ locked: inout Locked) -> [Step] {
        var steps: [Step] = []
        steps.reserveCapacity(actions.count)
        for action in actions {
            switch action {
            case .send(let pid, let tasks):
                guard let process = locked.processes[pid] else { continue }
                process.post(tasks)
                steps.append(.send(process))
            case .arm(let pid, let sent):
                guard let process = locked.processes[pid] else { continue }
                let timer = sent.task.timeout.map { makeTimeoutTimer($0, task: sent.task) }
                if let timer { locked.timers[pid] = timer }
                steps.append(.taskTaken(process, timer: timer))
            case .spawn(let backoff):
                liveWorkers.enter()
                steps.append(.spawn(after: backoff))
            case .retire(let pid):
                if let process = locked.processes[pid] { steps.append(.retire(process)) }
            case .kill(let pid):
                if let process = locked.processes[pid] { steps.append(.kill(process)) }
            case .disarm(let pid):
                if let timer = locked.timers.removeValue(forKey: pid) { steps.append(.cancelTimer(timer)) }
            case .fail(let tasks, let error):
                if !tasks.isEmpty { steps.append(.fail(tasks, error)) }
            }
        }
        if !locked.roomWaiters.isEmpty {
            let room = locked.machine.room
            if room > 0 { steps.append(.wake(locked.roomWaiters.popFirst(room))) }
        }
        return steps
    }

    func perform(_ steps: [Step]) {
        for step in steps {
            switch step {
            case .send(let worker):
                worker.flush()
            case .taskTaken(let worker, let timer):
                timer?.resume()
                worker.output?.taskStarting()   // diagnostics hold this task's stderr only
            case .spawn(let backoff?):
                timerQueue.asyncAfter(deadline: backoff.deadlineFromNow) { self.spawnWorker() }
            case .spawn(nil):
                spawnWorker()
            case .retire(let worker):
                worker.retire()
            case .kill(let worker):
                kill(worker)
            case .cancelTimer(let timer):
                timer.cancel()
            case .fail(let tasks, let error):
                for task in tasks { task.fail(error) }
            case .wake(let waiters):
                for waiter in waiters { waiter.resume() }
            }
        }
    }

    private func makeTimeoutTimer(_ timeout: Duration, task: any AnyProcessTask) -> any DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: timerQueue)
        timer.schedule(deadline: timeout.deadlineFromNow)
        timer.setEventHandler { [weak self, weak task] in
            guard let self, let task else { return }
            self.withdraw(task, reason: .timeout(timeout))
        }
        return timer
    }

    /// SIGKILL at once, or SIGTERM and SIGKILL after the grace period.
    func kill(_ worker: WorkerProcess) {
        guard let grace = configuration.terminationGracePeriod else {
            return worker.signal(SIGKILL)
        }
        worker.signal(SIGTERM)
        timerQueue.asyncAfter(deadline: grace.deadlineFromNow) { worker.signal(SIGKILL) }
    }
}
