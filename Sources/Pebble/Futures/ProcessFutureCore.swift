// SPDX-License-Identifier: Apache-2.0

/// The state of a process task's ``Future``: a ``FutureCore`` that also holds what the task used
/// (with `recordsResourceUsage`), in place, so that recording it allocates nothing.
final class ProcessFutureCore: FutureCore, @unchecked Sendable {
    // @unchecked Sendable: `usage` is written like the core's outcome, under `state`'s lock while
    // the phase is not `.done` (so before the `done` bit is set, with release ordering), and read
    // only once that bit was seen (acquire): it never changes after a reader can see it.
    nonisolated(unsafe) private var usage: ResourceUsage?

    /// Records what the task used, unless the future is done already (then it ran for nothing).
    func attachUsage(_ usage: ResourceUsage) {
        state.withLock { state in
            if case .done = state.phase { return }
            self.usage = usage
        }
    }

    /// The usage attached before the outcome, once the future is done.
    override var resourceUsage: ResourceUsage? {
        isDone ? usage : nil
    }
}
