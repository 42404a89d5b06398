// SPDX-License-Identifier: Apache-2.0
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The async `run`'s wait for room in a full queue (`maxPending`). The machine keeps the order of
/// the waiters and decides who gets room; the core holds their continuations.
extension ProcessPoolCore {
    /// Waits (without blocking a thread) until the queue has room. Throws `CancellationError` when
    /// the awaiting Task is cancelled, `.poolNotRunning` when the pool stops taking work, and
    /// ``TimeoutError`` (with `budget`) at `deadline`.
    func waitForRoom(atFront: Bool, deadline: ContinuousClock.Instant?, budget: Duration) async throws {
        let id = state.withLock { locked in
            locked.nextWaiterID += 1
            return locked.nextWaiterID
        }
        let timer = deadline.map { deadline in
            OneShotTimer(queue: timerQueue, deadline: deadline.dispatchDeadline) { [weak self] in
                self?.stopWaitingForRoom(id, with: TimeoutError(timeout: budget, wasRunning: false))
            }
        }
        defer { timer?.cancel() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let decision: ProcessPoolStateMachine.RoomDecision = state.withLock { locked in
                    if Task.isCancelled { return .proceed }
                    let decision = locked.machine.waitForRoom(id, atFront: atFront)
                    if decision == .wait { locked.roomWaiters[id] = continuation }
                    return decision
                }
                switch decision {
                case .proceed: continuation.resume()
                case .refuse: continuation.resume(throwing: PebbleError.notRunning)
                case .wait: break
                }
            }
        } onCancel: {
            stopWaitingForRoom(id, with: CancellationError())
        }
        try Task.checkCancellation()
    }

    /// Waiter `id` leaves with `error`, if it still waits.
    private func stopWaitingForRoom(_ id: UInt64, with error: any Error) {
        let continuation = state.withLock { locked in
            locked.machine.stopWaitingForRoom(id) ? locked.roomWaiters.removeValue(forKey: id) : nil
        }
        continuation?.resume(throwing: error)
    }
}
