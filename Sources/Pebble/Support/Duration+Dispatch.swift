// SPDX-License-Identifier: Apache-2.0
import Dispatch

extension Duration {
    /// The duration in whole nanoseconds, saturated to `Int.max` for very long durations.
    var clampedNanoseconds: Int {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? Int.min : Int.max }
        let (total, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? Int.max : Int(total)
    }

    /// The duration as seconds in a `Double`.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// A Dispatch deadline this long from now.
    var deadlineFromNow: DispatchTime {
        let nanos = clampedNanoseconds
        let now = DispatchTime.now()
        let (end, overflow) = now.uptimeNanoseconds.addingReportingOverflow(UInt64(max(0, nanos)))
        return overflow || end >= DispatchTime.distantFuture.uptimeNanoseconds
            ? .distantFuture : DispatchTime(uptimeNanoseconds: end)
    }

    /// The time interval Dispatch timers take.
    var dispatchInterval: DispatchTimeInterval { .nanoseconds(clampedNanoseconds) }
}

/// Throws `.invalidArgument` naming `name` when `timeout` is negative.
func validateTimeout(_ timeout: Duration?, name: String = "timeout") throws {
    if let timeout, timeout < .zero {
        throw PebbleError.invalidArgument(name, "must not be negative, got \(timeout)")
    }
}

/// A deadline for an optional timeout: `.distantFuture` when there is none.
func deadline(after timeout: Duration?) -> DispatchTime {
    timeout?.deadlineFromNow ?? .distantFuture
}
