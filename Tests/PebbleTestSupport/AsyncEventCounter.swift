// SPDX-License-Identifier: Apache-2.0
@testable import Pebble

/// Counts events and lets an async test await a number of them without blocking a thread of the
/// cooperative pool (a blocked one can starve the Tasks that tests running in parallel wait for).
final class AsyncEventCounter: Sendable {
    private struct State {
        var count = 0
        var waiters: [(target: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = StateLock(State())

    func record() {
        let ready: [CheckedContinuation<Void, Never>] = state.withLock { state in
            state.count += 1
            let count = state.count
            let ready = state.waiters.filter { $0.target <= count }.map(\.continuation)
            state.waiters.removeAll { $0.target <= count }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    var value: Int { state.withLock { $0.count } }

    /// Returns once `n` events were recorded (the test's time limit bounds the wait).
    func reached(_ n: Int = 1) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now: Bool = state.withLock { state in
                if state.count >= n { return true }
                state.waiters.append((n, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }
}
