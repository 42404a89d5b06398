// SPDX-License-Identifier: Apache-2.0
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ProcessPoolCore {
    /// The stop handler of a task's future: takes the task back when it is cancelled.
    var stopOnCancel: @Sendable (any AnyProcessTask) -> Bool {
        { [weak self] task in self?.withdraw(task, reason: .cancelled) ?? false }
    }

    /// Fails `task` with ``TimeoutError`` at `deadline` unless it is done by then: a queued or
    /// offered task is removed and never runs, a running one fails at once and its worker is
    /// stopped as for a timeout. `budget` (the time from the call to the deadline) is the
    /// error's `timeout`.
    func armDeadline(_ task: any AnyProcessTask, at deadline: ContinuousClock.Instant, budget: Duration) -> OneShotTimer {
        OneShotTimer(queue: timerQueue, deadline: deadline.dispatchDeadline) { [weak self, weak task] in
            guard let self, let task else { return }
            self.withdraw(task, reason: .timeout(budget))
        }
    }
}
