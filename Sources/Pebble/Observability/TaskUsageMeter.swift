// SPDX-License-Identifier: Apache-2.0
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Measures what one task costs the process it runs in (a worker, which runs one task at a time):
/// ``begin()`` resets the peak resident set; ``end()`` returns the CPU used since the last
/// ``end()`` (or since the meter was created) and the peak reached since ``begin()``.
///
/// The CPU: one `getrusage` per task, at its end; the task's start is the previous task's end. So
/// a task's CPU also counts what the worker spent between the two tasks: sending the last outcome
/// and receiving this job, a few microseconds of system time (waiting for the job costs none).
/// A second `getrusage` at the start would cost more than it corrects (it walks every thread of
/// the process and locks each one's run queue).
///
/// The peak: `clear_refs` "5" at the start resets the memory's high-water mark to the current
/// resident set. Where the end reads it from depends on how the worker started:
/// - **Forked by the zygote** (no exec since): from the same `getrusage`. Its `ru_maxrss` is the
///   larger of the high-water mark and the peak that exec carried over into the process, and a
///   forked process has none (its signal struct starts at 0; only exec, or the death of the whole
///   process, raises it). So a task costs a `write` to `clear_refs` and one `getrusage`, about
///   0.8 µs, whatever it did.
/// - **Spawned** (`posix_spawn`): exec carried the pool's own peak over, which `ru_maxrss` would
///   report for every task below it. The resident set at the reset is read from `statm`. The
///   resident set grows only through page faults (populating calls such as `MAP_POPULATE` and
///   `mlock` count theirs too), so a task that took no fault peaked at its start; only a task that
///   did (or whose worker did since the last task's end) pays for the `VmHWM` line of
///   `/proc/self/status`, whose formatting costs several microseconds. (A transparent huge page
///   collapsed by `khugepaged` during the task can add up to 2 MiB without a fault.)
///
/// The kernel keeps resident-set counters per CPU and folds them in batches, so a peak is exact to
/// within a few hundred KiB on a small machine (the batch grows with the CPU count).
///
/// Create it in the process that measures itself (after a fork): its descriptors name
/// `/proc/self` as it was when opened.
final class TaskUsageMeter {
    /// Where ``end()`` reads the peak from.
    private enum PeakSource {
        /// `getrusage`'s `ru_maxrss`: the process has no carried peak (see the type's comment).
        case rusage
        /// `statm` at the reset, `VmHWM` after a fault.
        case procfs(statm: Int32, status: Int32)
    }

    private let clearRefs: Int32
    private let peakSource: PeakSource
    /// The CPU times and faults at the last ``end()`` (or at creation): the next task's start.
    private var last = pebble_usage_t()
    /// Whether ``begin()`` reset the high-water mark.
    private var didReset = false
    /// With ``PeakSource/procfs``: the resident set when the task started, which the reset made
    /// the peak so far.
    private var startResident: Int64 = -1
    /// The process's CPU times over its life at the last ``end()``.
    private(set) var lifetimeUserTime = Duration.zero
    private(set) var lifetimeSystemTime = Duration.zero

    init() {
        // Opened here, in the process that measures itself: a descriptor opened before a fork
        // would measure the parent. One that cannot be opened is -1 (no peak, or no reset).
        clearRefs = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC)
        peakSource =
            pebble_usage_peak_is_own() != 0
            ? .rusage
            : .procfs(
                statm: open("/proc/self/statm", O_RDONLY | O_CLOEXEC), status: open("/proc/self/status", O_RDONLY | O_CLOEXEC))
        pebble_usage_sample(&last)
    }

    deinit {
        if clearRefs >= 0 { close(clearRefs) }
        if case .procfs(let statm, let status) = peakSource {
            if status >= 0 { close(status) }
            if statm >= 0 { close(statm) }
        }
    }

    /// A task starts now.
    func begin() {
        didReset = pebble_usage_reset_peak(clearRefs) == 0
        if case .procfs(let statm, _) = peakSource {
            startResident = didReset ? pebble_usage_resident_bytes(statm) : -1
        }
    }

    /// What the process used since the last ``end()`` (its CPU) and since ``begin()`` (its peak).
    func end() -> ResourceUsage {
        var now = pebble_usage_t()
        pebble_usage_sample(&now)
        let start = last
        last = now
        let peak: Int64
        switch peakSource {
        case .rusage:
            peak = didReset ? now.maxrss_bytes : -1
        case .procfs(_, let status):
            // Without a fault the resident set never grew past the start's.
            let mayHaveGrown = now.faults != start.faults || startResident < 0
            peak = mayHaveGrown ? pebble_usage_high_water_mark(status) : startResident
        }
        lifetimeUserTime = .nanoseconds(now.user_ns)
        lifetimeSystemTime = .nanoseconds(now.system_ns)
        return ResourceUsage(
            userTime: .nanoseconds(now.user_ns - start.user_ns),
            systemTime: .nanoseconds(now.system_ns - start.system_ns),
            peakResidentMemory: peak >= 0 ? Int(peak) : nil)
    }
}
