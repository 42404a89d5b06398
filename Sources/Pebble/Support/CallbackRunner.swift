// SPDX-License-Identifier: Apache-2.0
import Dispatch
import _PebbleShim

/// Runs user callbacks (``Future/whenComplete(_:)``) on threads of Pebble's own, never on
/// `DispatchQueue.global()` (whose few threads on Linux are also Swift's cooperative pool).
///
/// One thread runs callbacks in order while they are quick. When callbacks wait and none of the
/// runner threads has finished one for a stall interval (20 ms), they are taken to be blocked and
/// more threads start, one per waiting callback (at most 64 at a time): a callback that blocks
/// therefore delays the others by about 20 ms, not by its own duration. A thread that has had
/// nothing to do for a second exits.
///
/// ```swift
/// CallbackRunner.shared.run { print("done") }
/// ```
final class CallbackRunner: Sendable {
    static let shared = CallbackRunner()

    static let stallInterval = Duration.milliseconds(20)
    static let idleLifetime = Duration.seconds(1)
    static let maxThreadsPerStall = 64

    private struct State: Sendable {
        var waiting = FIFO<@Sendable () -> Void>()
        var threads = 0
        var idle = 0
        /// Callbacks finished so far: no change between two stall checks means every runner is stuck.
        var finished: UInt64 = 0
        var checkScheduled = false
    }

    private let state = ConditionLock(State())

    /// Runs `callback` soon, on a runner thread.
    func run(_ callback: @escaping @Sendable () -> Void) {
        let startThread: Bool = state.withLock { state in
            state.waiting.append(callback)
            // An idle runner per waiting callback: it takes it.
            if state.waiting.count <= state.idle { return false }
            if state.threads == 0 {
                state.threads += 1
                return true
            }
            scheduleCheck(&state)
            return false
        }
        if startThread { startRunner() } else { state.broadcast() }
    }

    private func scheduleCheck(_ state: inout State) {
        guard !state.checkScheduled else { return }
        state.checkScheduled = true
        let finished = state.finished
        PebbleQueues.timers.asyncAfter(deadline: Self.stallInterval.deadlineFromNow) { [self] in
            checkForStall(since: finished)
        }
    }

    /// Starts more runners when callbacks wait and none finished since the check was scheduled.
    private func checkForStall(since finished: UInt64) {
        let toStart: Int = state.withLock { state in
            state.checkScheduled = false
            guard state.waiting.count > state.idle else { return 0 }
            if state.finished == finished {
                let count = min(state.waiting.count - state.idle, Self.maxThreadsPerStall)
                state.threads += count
                scheduleCheck(&state)
                return count
            }
            scheduleCheck(&state)
            return 0
        }
        for _ in 0..<toStart { startRunner() }
    }

    private func startRunner() {
        if startDetachedThread({ [self] in runLoop() }) != 0 {
            // No thread: run the callbacks on a serial queue of our own (overcommit, so it gets one).
            DispatchQueue(label: "pebble.callbacks").async { [self] in runLoop() }
        }
    }

    private func runLoop() {
        pebble_set_thread_name("pebble-callback")
        while true {
            state.withLock { $0.idle += 1 }
            // The predicate is checked under the lock before waiting, so no wake-up is lost.
            let taken: (@Sendable () -> Void)?? = state.withLock(
                when: { !$0.waiting.isEmpty }, before: Self.idleLifetime.deadlineFromNow
            ) { state in
                state.idle -= 1
                return state.waiting.popFirst()
            }
            let callback: (@Sendable () -> Void)?
            if let taken {
                callback = taken
            } else {
                // Idle for a second: exit, unless work came in at the last moment.
                callback = state.withLock { state in
                    state.idle -= 1
                    if let callback = state.waiting.popFirst() { return callback }
                    state.threads -= 1
                    return nil
                }
            }
            guard let callback else { return }
            callback()
            state.withLock { $0.finished &+= 1 }
        }
    }
}
