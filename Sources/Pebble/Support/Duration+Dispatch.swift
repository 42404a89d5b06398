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

    /// A Dispatch deadline this long from now; `.distantFuture` past about 146 years.
    ///
    /// A `dispatch_time_t` is an encoding whose top bits select other clocks: a raw uptime of 2^62
    /// or more is read as a wall-clock or monotonic time and fires at once. So every deadline at or
    /// past 2^62 ns of uptime (about 146 years, beyond any "no limit" sentinel's meaning) saturates.
    var deadlineFromNow: DispatchTime {
        let nanos = clampedNanoseconds
        let now = DispatchTime.now()
        let (end, overflow) = now.uptimeNanoseconds.addingReportingOverflow(UInt64(max(0, nanos)))
        return overflow || end >= Self.largestUptime ? .distantFuture : DispatchTime(uptimeNanoseconds: end)
    }

    /// Raw Dispatch times from 2^62 on are not uptimes.
    static let largestUptime: UInt64 = 1 << 62
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
