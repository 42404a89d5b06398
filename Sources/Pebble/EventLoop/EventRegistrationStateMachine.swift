// SPDX-License-Identifier: Apache-2.0

/// The decisions of one ``EventRegistration``: when it enters the epoll set, whether an event runs
/// the handler, when it is re-armed, and how it is removed. Pure: the registration holds it under
/// its lock and performs the actions (epoll calls, handlers) itself.
///
/// Lifecycle: `created` → (`resume`) `watching` (in the epoll set, one-shot) or `unwatched` (the
/// kernel refused it: one event is delivered so the handler sees the error) → (`cancel`, then
/// `performCancel` on the registration's queue) `cancelled`. An event runs the handler only
/// while watching and not cancelled; after the handler the registration is re-armed unless a
/// cancel was asked meanwhile.
struct EventRegistrationStateMachine: Sendable {
    enum State: Equatable, Sendable {
        case created
        case watching(token: UInt64)
        case unwatched
        case cancelled
    }

    private(set) var state: State = .created
    /// Set by ``cancel()``, from any thread; the removal itself happens on the queue.
    private(set) var cancelRequested = false

    enum ResumeAction: Equatable, Sendable { case add, none }

    /// `resume()`: add to the epoll set the first time (not once cancelled).
    mutating func resume() -> ResumeAction {
        guard case .created = state, !cancelRequested else { return .none }
        return .add
    }

    /// The epoll set holds the descriptor under `token`.
    mutating func added(token: UInt64) {
        guard case .created = state else { preconditionFailure("added in state \(state)") }
        state = .watching(token: token)
    }

    /// The kernel refused the descriptor (closed, or a kind epoll cannot watch).
    mutating func addFailed() {
        guard case .created = state else { preconditionFailure("addFailed in state \(state)") }
        state = .unwatched
    }

    /// An event reached the queue: whether the handler runs.
    func eventArrived() -> Bool {
        guard !cancelRequested else { return false }
        switch state {
        case .watching, .unwatched: return true
        case .created, .cancelled: return false
        }
    }

    enum AfterHandler: Equatable, Sendable { case rearm(token: UInt64), none }

    /// The handler returned: re-arm the one-shot watch unless a cancel was asked.
    func handlerReturned() -> AfterHandler {
        guard !cancelRequested, case .watching(let token) = state else { return .none }
        return .rearm(token: token)
    }

    /// `cancel()`: `true` the first time (the owner then schedules ``performCancel()`` on the queue).
    mutating func cancel() -> Bool {
        guard !cancelRequested else { return false }
        cancelRequested = true
        return true
    }

    enum CancelAction: Equatable, Sendable {
        /// Remove the descriptor from the epoll set (and the token from the table), then run the
        /// cancel handler.
        case remove(token: UInt64)
        /// Nothing to remove: run the cancel handler.
        case finish
    }

    /// On the queue, after ``cancel()``: exactly once.
    mutating func performCancel() -> CancelAction {
        precondition(cancelRequested, "performCancel before cancel")
        defer { state = .cancelled }
        switch state {
        case .watching(let token): return .remove(token: token)
        case .created, .unwatched: return .finish
        case .cancelled: preconditionFailure("cancelled twice")
        }
    }
}
