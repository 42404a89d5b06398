// SPDX-License-Identifier: Apache-2.0
import _PebbleShim

/// What a worker measured for one task (with the pool's `recordsResourceUsage`), sent as a
/// ``MessageKind/usage`` frame in the same write as the task's outcome, just before it: the task's
/// usage, and the worker's CPU time over its life when the task ended (what the pool subtracts
/// from a dead worker's lifetime usage to estimate the CPU of the task it died in).
///
/// Five little-endian 64-bit integers: user and system nanoseconds of the task, its peak resident
/// bytes (−1: unknown), the worker's lifetime user and system nanoseconds.
struct UsageReport: Hashable, Sendable {
    var task: ResourceUsage
    var lifetimeUserTime: Duration
    var lifetimeSystemTime: Duration

    static let encodedSize = 5 * 8

    /// The size of the ``MessageKind/usage`` frame, header included.
    static let frameSize = Frame.headerSize + 1 + encodedSize

    /// Calls `body` with the ``MessageKind/usage`` frame, built on the stack: a worker sends it
    /// as the first buffer of the write that carries the outcome.
    func withFrame<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(byteCount: Self.frameSize, alignment: 8) { frame in
            frame.storeBytes(of: UInt64(1 + Self.encodedSize).littleEndian, as: UInt64.self)
            frame[Frame.headerSize] = MessageKind.usage.rawValue
            let fields = (
                WorkerSettings.nanoseconds(task.userTime), WorkerSettings.nanoseconds(task.systemTime),
                task.peakResidentMemory ?? -1,
                WorkerSettings.nanoseconds(lifetimeUserTime), WorkerSettings.nanoseconds(lifetimeSystemTime)
            )
            let start = Frame.headerSize + 1
            frame.storeBytes(of: Int64(fields.0).littleEndian, toByteOffset: start, as: Int64.self)
            frame.storeBytes(of: Int64(fields.1).littleEndian, toByteOffset: start + 8, as: Int64.self)
            frame.storeBytes(of: Int64(fields.2).littleEndian, toByteOffset: start + 16, as: Int64.self)
            frame.storeBytes(of: Int64(fields.3).littleEndian, toByteOffset: start + 24, as: Int64.self)
            frame.storeBytes(of: Int64(fields.4).littleEndian, toByteOffset: start + 32, as: Int64.self)
            return try body(UnsafeRawBufferPointer(frame))
        }
    }

    init(task: ResourceUsage, lifetimeUserTime: Duration, lifetimeSystemTime: Duration) {
        self.task = task
        self.lifetimeUserTime = lifetimeUserTime
        self.lifetimeSystemTime = lifetimeSystemTime
    }

    /// The report in a frame's body (after the kind byte); `nil` if it is malformed.
    init?(decoding body: ArraySlice<UInt8>) {
        guard body.count == Self.encodedSize else { return nil }
        let (user, system, peak, lifetimeUser, lifetimeSystem) = body.withUnsafeBytes { bytes in
            let field = { (index: Int) in Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * index, as: Int64.self)) }
            return (field(0), field(1), field(2), field(3), field(4))
        }
        guard user >= 0, system >= 0, lifetimeUser >= 0, lifetimeSystem >= 0 else { return nil }
        self.init(
            task: ResourceUsage(
                userTime: .nanoseconds(user), systemTime: .nanoseconds(system),
                peakResidentMemory: peak < 0 ? nil : Int(peak)),
            lifetimeUserTime: .nanoseconds(lifetimeUser), lifetimeSystemTime: .nanoseconds(lifetimeSystem))
    }

    /// What a task whose worker died while running it used: the CPU time the worker used since the
    /// end of the last task it reported (`reported`, its lifetime CPU then; `nil`: none, so over
    /// its life), and the worker's peak resident set over its life. `lifetime` is the dead
    /// worker's own usage (`wait4`'s rusage).
    static func deadWorkerUsage(lifetime: ResourceUsage, reported: UsageReport?) -> ResourceUsage {
        guard let reported else { return lifetime }
        return ResourceUsage(
            userTime: max(.zero, lifetime.userTime - reported.lifetimeUserTime),
            systemTime: max(.zero, lifetime.systemTime - reported.lifetimeSystemTime),
            peakResidentMemory: lifetime.peakResidentMemory)
    }

    /// A dead worker's usage over its life from its own rusage (`raw`, from `wait4` or the raw
    /// `waitid`): its user and system time, and its peak resident set, `ru_maxrss` in bytes.
    ///
    /// The peak is the largest resident set the worker's memory reached since it last reset its
    /// high-water mark (each task's start, with usage recorded) or since a thread of it last exited
    /// — at least the peak of the task it died in. A worker forked by the zygote starts from the
    /// zygote's small peak. A posix_spawned worker's `ru_maxrss` also holds the peak that exec
    /// carried over from the spawning process (the pool's, not the worker's); `carriedPeakKiB`,
    /// this process's peak sampled just after the spawn, bounds it from above. So for such a worker
    /// the peak is known only when `ru_maxrss` exceeds it, and `nil` otherwise (it cannot be told
    /// apart from the pool's). `carriedPeakKiB` is `nil` for a forked worker.
    static func deadWorkerLifetime(_ raw: pebble_rusage, carriedPeakKiB: Int?) -> ResourceUsage {
        let maxrss = Int(raw.maxrss_kb)
        let known = maxrss > 0 && maxrss > (carriedPeakKiB ?? 0)
        return ResourceUsage(
            userTime: .microseconds(max(0, raw.user_usec)), systemTime: .microseconds(max(0, raw.system_usec)),
            peakResidentMemory: known ? maxrss * 1024 : nil)
    }
}
