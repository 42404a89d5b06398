// SPDX-License-Identifier: Apache-2.0
import _PebbleShim
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Measures what one task costs the process it runs in (a worker, which runs one task at a time):
/// ``begin()`` resets the peak resident set and notes the CPU times; ``end()`` returns the CPU
/// used since and the peak reached since.
///
/// Costs: a `write` to `clear_refs` at the start (under a microsecond), a `getrusage` at each end
/// and a `pread` of `/proc/self/status` at the end (a few microseconds). Create it in the process
/// that measures itself (after a fork): its descriptors name `/proc/self` as it was when opened.
final class TaskUsageMeter {
    private let clearRefs: Int32
    private let status: Int32
    private var start = pebble_usage_t()
    /// The process's CPU times over its life at the last ``end()``.
    private(set) var lifetimeUserTime = Duration.zero
    private(set) var lifetimeSystemTime = Duration.zero

    init() {
        var clearRefs: Int32 = -1, status: Int32 = -1
        pebble_usage_meter_open(&clearRefs, &status)
        self.clearRefs = clearRefs
        self.status = status
    }

    deinit {
        if clearRefs >= 0 { close(clearRefs) }
        if status >= 0 { close(status) }
    }

    /// A task starts now.
    func begin() {
        _ = pebble_usage_reset_peak(clearRefs)
        pebble_usage_sample(-1, &start)
    }

    /// What the process used since ``begin()``.
    func end() -> ResourceUsage {
        var now = pebble_usage_t()
        pebble_usage_sample(status, &now)
        lifetimeUserTime = .nanoseconds(now.user_ns)
        lifetimeSystemTime = .nanoseconds(now.system_ns)
        return ResourceUsage(userTime: .nanoseconds(now.user_ns - start.user_ns),
                             systemTime: .nanoseconds(now.system_ns - start.system_ns),
                             peakResidentMemory: now.peak_resident_bytes >= 0 ? Int(now.peak_resident_bytes) : nil)
    }
}
