// SPDX-License-Identifier: Apache-2.0
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The async `run`'s wait for room in a full queue (`maxPending`).
extension ProcessPoolCore {
    /// Waits (without blocking a thread) until the queue has room, or throws `CancellationError`
    /// when the awaiting Task is cancelled, or `.poolNotRunning` when the pool stops.
    func waitForRoom(atFront: Bool) async throws {
        let id = state.withLock { $0.roomWaiters.reserveID() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = state.withLock { locked in
                    if Task.isCancelled || locked.machine.room > 0 || !locked.machine.lifecycle.acceptsWork { return true }
                    locked.roomWaiters.add(id, continuation, atFront: atFront)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.roomWaiters.remove(id) }?.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }
}
