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
        /// Send what the feed's outbox holds (the messages were posted to it under the lock, in
        /// the order decided).
        case flushFeed
        /// Write a fetched request to the worker's channel (``RequestTransfer``).
        case sendRequest(WorkerProcess, sequence: UInt64, ScatteredBytes)
        case startTimer(any DispatchSourceTimer)
        case cancelTimer(any DispatchSourceTimer)
        case checkTakes(after: Duration)
        case checkIdle(after: Duration)
        case spawn(after: Duration?)
        case kill(WorkerProcess)
        /// The worker holds no task: SIGKILL at once, whatever the grace period.
        case retire(WorkerProcess)
        case fail([any AnyProcessTask], any Error)
        /// Observers of futures completed under the lock.
        case notify(@Sendable () -> Void)
        case resume([CheckedContinuation<Void, any Error>], (any Error)?)
    }

    /// Resolves `actions` under the lock, doing the bookkeeping that must not be separated from
    /// the decision: `liveWorkers` is entered for each spawn (so `join` never sees an empty group
    /// while a worker is about to start), timers are created and dropped, withdrawn futures are
    /// completed. Then asks the machine which waiting `run` calls have room now.
    func prepare(_ actions: [ProcessPoolStateMachine.Action], _ locked: inout Locked) -> [Step] {
        var steps: [Step] = []
        steps.reserveCapacity(actions.count)
        var all = actions
        if !locked.machine.roomWaiters.isEmpty { all += locked.machine.wakeRoomWaiters() }
        for action in all {
            switch action {
            case .offer(let offers):
                feed.post(offers)
                steps.append(.flushFeed)
            case .sendRequest(let offer, let pid):
                if let process = locked.processes[pid] { steps.append(.sendRequest(process, sequence: offer.sequence, offer.task.request)) }
            case .armTimeout(let offer):
                guard let timeout = offer.task.timeout, locked.timers[offer.sequence] == nil else { continue }
                let timer = makeTimeoutTimer(timeout, task: offer.task)
                locked.timers[offer.sequence] = timer
                steps.append(.startTimer(timer))
            case .disarm(let sequence):
                if let timer = locked.timers.removeValue(forKey: sequence) { steps.append(.cancelTimer(timer)) }
            case .checkTakes(let after):
                steps.append(.checkTakes(after: after))
            case .checkIdle(let after):
                steps.append(.checkIdle(after: after))
            case .spawn(let backoff):
                liveWorkers.enter()
                steps.append(.spawn(after: backoff))
            case .retire(let pid):
                if let process = locked.processes[pid] { steps.append(.retire(process)) }
            case .kill(let pid):
                if let process = locked.processes[pid] { steps.append(.kill(process)) }
            case .fail(let tasks, let error):
                if !tasks.isEmpty { steps.append(.fail(tasks, error)) }
            case .settle(let task, let error):
                if let notify = task.settle(error) { steps.append(.notify(notify)) }
            case .wakeRoomWaiters(let ids):
                steps.append(.resume(ids.compactMap { locked.roomWaiters.removeValue(forKey: $0) }, nil))
            case .refuseRoomWaiters(let ids):
                steps.append(.resume(ids.compactMap { locked.roomWaiters.removeValue(forKey: $0) }, PebbleError.notRunning))
            }
        }
        return steps
    }

    func perform(_ steps: [Step]) {
        for step in steps {
            switch step {
            case .flushFeed:
                feed.flush()
            case .sendRequest(let worker, let sequence, let request):
                worker.sendRequest(request, sequence: sequence)
            case .startTimer(let timer):
                timer.resume()
            case .cancelTimer(let timer):
                timer.cancel()
            case .checkTakes(let after):
                timerQueue.asyncAfter(deadline: after.deadlineFromNow) { [weak self] in
                    guard let self else { return }
                    self.feed.flush()
                    self.perform(self.decide { $0.checkTakes() })
                }
            case .checkIdle(let after):
                timerQueue.asyncAfter(deadline: after.deadlineFromNow) { [weak self] in
                    guard let self else { return }
                    self.perform(self.decide { $0.checkIdle() })
                }
            case .spawn(let backoff?):
                timerQueue.asyncAfter(deadline: backoff.deadlineFromNow) { self.spawnWorker() }
            case .spawn(nil):
                spawnWorker()
            case .kill(let worker):
                kill(worker)
            case .retire(let worker):
                worker.signal(SIGKILL)
            case .fail(let tasks, let error):
                for task in tasks { task.fail(error) }
            case .notify(let notify):
                notify()
            case .resume(let waiters, nil):
                for waiter in waiters { waiter.resume() }
            case .resume(let waiters, let error?):
                for waiter in waiters { waiter.resume(throwing: error) }
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

    /// SIGKILL at once, or SIGTERM and SIGKILL after the grace period. A worker stopped by a
    /// signal (SIGSTOP) ends either way: SIGKILL does not wait for SIGCONT.
    func kill(_ worker: WorkerProcess) {
        guard let grace = configuration.terminationGracePeriod else {
            return worker.signal(SIGKILL)
        }
        worker.signal(SIGTERM)
        timerQueue.asyncAfter(deadline: grace.deadlineFromNow) { worker.signal(SIGKILL) }
    }
}
