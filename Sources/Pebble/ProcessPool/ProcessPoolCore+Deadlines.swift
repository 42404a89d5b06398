// SPDX-License-Identifier: Apache-2.0
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ProcessPoolCore {
    /// The stop handler of a task's future: stops the task on its worker when it is cancelled.
    var stopOnCancel: @Sendable (any AnyProcessTask, pid_t) -> Bool {
        { [weak self] task, pid in self?.stopTask(task, on: pid, reason: .cancelled) ?? false }
    }

    /// Fails `task` with ``TimeoutError`` at `deadline` unless it is done by then: a queued task is
    /// removed and never runs, a running one has its worker stopped as for a timeout. `budget`
    /// (the time from `schedule` to the deadline) is the error's `timeout`.
    func armDeadline(_ task: any AnyProcessTask, at deadline: ContinuousClock.Instant, budget: Duration) -> OneShotTimer {
        OneShotTimer(queue: timerQueue, deadline: deadline.dispatchDeadline) { [weak self, weak task] in
            guard let self, let task else { return }
            self.deadlinePassed(task, budget: budget)
        }
    }

    private func deadlinePassed(_ task: any AnyProcessTask, budget: Duration) {
        let (notify, steps): ((@Sendable () -> Void)?, [Step]) = state.withLock { locked in
            if let pid = locked.machine.worker(running: task) {
                let actions = locked.machine.stopTask(task, on: pid, reason: .timeout(budget)) ?? []
                return (nil, prepare(actions, &locked))
            }
            // Settled under the lock: a queued task can no longer be started by the next dispatch.
            _ = locked.machine.removePending(task)
            return (task.settle(TimeoutError(timeout: budget)), prepare([], &locked))
        }
        notify?()
        perform(steps)
    }
}
