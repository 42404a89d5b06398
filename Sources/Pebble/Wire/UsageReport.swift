// SPDX-License-Identifier: Apache-2.0

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

    /// The ``MessageKind/usage`` frame.
    var frame: [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(Self.encodedSize)
        let fields = [WorkerSettings.nanoseconds(task.userTime), WorkerSettings.nanoseconds(task.systemTime),
                      task.peakResidentMemory ?? -1,
                      WorkerSettings.nanoseconds(lifetimeUserTime), WorkerSettings.nanoseconds(lifetimeSystemTime)]
        for field in fields { Frame.appendLength(UInt64(bitPattern: Int64(field)), to: &body) }
        return Frame.make(.usage, body)
    }

    init(task: ResourceUsage, lifetimeUserTime: Duration, lifetimeSystemTime: Duration) {
        self.task = task
        self.lifetimeUserTime = lifetimeUserTime
        self.lifetimeSystemTime = lifetimeSystemTime
    }

    /// The report in a frame's body (after the kind byte); `nil` if it is malformed.
    init?(decoding body: ArraySlice<UInt8>) {
        guard body.count == Self.encodedSize else { return nil }
        let fields: [Int64] = (0..<5).map { index in
            let start = body.startIndex + index * 8
            return Int64(bitPattern: body[start..<start + 8].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        }
        guard fields[0] >= 0, fields[1] >= 0, fields[3] >= 0, fields[4] >= 0 else { return nil }
        self.init(task: ResourceUsage(userTime: .nanoseconds(fields[0]), systemTime: .nanoseconds(fields[1]),
                                      peakResidentMemory: fields[2] < 0 ? nil : Int(fields[2])),
                  lifetimeUserTime: .nanoseconds(fields[3]), lifetimeSystemTime: .nanoseconds(fields[4]))
    }

    /// What a task whose worker died while running it used: the CPU time the worker used since the
    /// end of the last task it reported (`reported`, its lifetime CPU then; `nil`: none, so over
    /// its life), and the worker's peak resident set over its life. `lifetime` is the dead
    /// worker's own usage (`wait4`'s rusage).
    static func deadWorkerUsage(lifetime: ResourceUsage, reported: UsageReport?) -> ResourceUsage {
        guard let reported else { return lifetime }
        return ResourceUsage(userTime: max(.zero, lifetime.userTime - reported.lifetimeUserTime),
                             systemTime: max(.zero, lifetime.systemTime - reported.lifetimeSystemTime),
                             peakResidentMemory: lifetime.peakResidentMemory)
    }
}
