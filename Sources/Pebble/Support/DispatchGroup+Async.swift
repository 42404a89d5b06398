// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization

/// Where the async lifecycle calls' group notifications and timeout timers run: a queue of
/// Pebble's own (so never a global queue, which the cooperative pool shares).
let lifecycleQueue = DispatchQueue(label: "pebble.lifecycle")

extension DispatchGroup {
    /// Waits, without blocking a thread, until the group is empty: `true`, or `false` once
    /// `timeout` has passed first. With `cancellable`, a cancelled Task throws `CancellationError`
    /// (the group is untouched).
    ///
    /// The group's `notify` resumes a continuation; a Dispatch timer (cancelled as soon as the
    /// wait ends) covers the timeout.
    func waitAsync(timeout: Duration?, cancellable: Bool) async throws -> Bool {
        let once = OnceContinuation<Bool>()
        let body = {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
                once.install(continuation)
                self.notify(queue: lifecycleQueue) { once.resume(with: .success(true)) }
                if let timeout {
                    let timer = DispatchSource.makeTimerSource(queue: lifecycleQueue)
                    timer.schedule(deadline: timeout.deadlineFromNow)
                    timer.setEventHandler { once.resume(with: .success(false)) }
                    once.attach(SendableTimer(timer: timer))
                    timer.resume()
                }
            }
        }
        guard cancellable else { return try await body() }
        return try await withTaskCancellationHandler(operation: body) {
            once.resume(with: .failure(CancellationError()))
        }
    }

    /// ``waitAsync(timeout:cancellable:)`` with no timeout and no cancellation.
    func waitAsync() async {
        _ = try? await waitAsync(timeout: nil, cancellable: false)
    }
}

/// A continuation resumed by the first of several racing events (the rest do nothing), which may
/// arrive even before the continuation is installed (a Task cancelled before it waits).
final class OnceContinuation<Value: Sendable>: Sendable {
    private enum Phase {
        case empty
        case installed(CheckedContinuation<Value, any Error>)
        /// An outcome arrived before the continuation.
        case early(Result<Value, any Error>)
        case resumed
    }

    private struct State {
        var phase = Phase.empty
        var timer: SendableTimer?
    }

    private let state = StateLock(State())

    func install(_ continuation: CheckedContinuation<Value, any Error>) {
        let early: Result<Value, any Error>? = state.withLock { state in
            if case .early(let outcome) = state.phase {
                state.phase = .resumed
                return outcome
            }
            state.phase = .installed(continuation)
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// Cancelled when the wait ends; cancelled at once if it already has.
    func attach(_ timer: SendableTimer) {
        let ended: Bool = state.withLock { state in
            if case .resumed = state.phase { return true }
            state.timer = timer
            return false
        }
        if ended { timer.timer.cancel() }
    }

    func resume(with outcome: Result<Value, any Error>) {
        let (continuation, timer): (CheckedContinuation<Value, any Error>?, SendableTimer?) = state.withLock { state in
            switch state.phase {
            case .empty:
                state.phase = .early(outcome)
                return (nil, nil)
            case .installed(let continuation):
                state.phase = .resumed
                defer { state.timer = nil }
                return (continuation, state.timer)
            case .early, .resumed:
                return (nil, nil)
            }
        }
        timer?.timer.cancel()
        continuation?.resume(with: outcome)
    }
}

/// A Dispatch timer that may cross isolation domains. `@unchecked Sendable`: libdispatch objects
/// are thread-safe (`resume` and `cancel` may be called from any thread); Swift only lacks the
/// annotation on `DispatchSourceTimer`.
struct SendableTimer: @unchecked Sendable {
    let timer: any DispatchSourceTimer
}
