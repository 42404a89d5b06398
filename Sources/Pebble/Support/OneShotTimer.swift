// SPDX-License-Identifier: Apache-2.0
import Dispatch

/// A Dispatch timer that fires once at a deadline unless cancelled first.
final class OneShotTimer: Sendable {
    // DispatchSourceTimer is not Sendable in corelibs-dispatch; after `resume` in init it is only
    // cancelled, which Dispatch allows from any thread.
    nonisolated(unsafe) private let source: any DispatchSourceTimer

    init(queue: DispatchQueue, deadline: DispatchTime, _ handler: @escaping @Sendable () -> Void) {
        source = DispatchSource.makeTimerSource(queue: queue)
        source.schedule(deadline: deadline)
        source.setEventHandler(handler: handler)
        source.resume()
    }

    func cancel() { source.cancel() }
}

extension ContinuousClock.Instant {
    /// This instant as a Dispatch deadline (saturating, like ``Swift/Duration/deadlineFromNow``).
    var dispatchDeadline: DispatchTime {
        let remaining = self - ContinuousClock.now
        return remaining <= .zero ? .now() : remaining.deadlineFromNow
    }
}
