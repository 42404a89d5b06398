// SPDX-License-Identifier: Apache-2.0
/// What a task or a command cost: CPU time in user mode and in the kernel, and the peak resident
/// memory.
///
/// A process task's usage is measured in its worker while it runs, when the pool's
/// `recordsResourceUsage` is on; a command's covers the command and every descendant it reaped.
///
/// ```swift
/// if let usage = future.resourceUsage {
///     print("cpu \(usage.userTime + usage.systemTime), peak \(usage.peakResidentMemory ?? 0) bytes")
/// }
/// ```
public struct ResourceUsage: Sendable, Hashable, CustomStringConvertible {
    /// CPU time spent in user mode.
    ///
    /// ```swift
    /// print("user:", usage.userTime)
    /// ```
    public var userTime: Duration
    /// CPU time spent in the kernel on the process's behalf.
    ///
    /// ```swift
    /// print("system:", usage.systemTime)
    /// ```
    public var systemTime: Duration
    /// The peak resident set, in bytes; `nil` where the platform cannot tell.
    ///
    /// ```swift
    /// if let peak = usage.peakResidentMemory, peak > 1 << 30 { print("over 1 GiB") }
    /// ```
    public var peakResidentMemory: Int?

    /// Creates a usage from its figures.
    ///
    /// ```swift
    /// let usage = ResourceUsage(userTime: .milliseconds(300), systemTime: .milliseconds(20),
    ///                           peakResidentMemory: 64 << 20)
    /// ```
    public init(userTime: Duration, systemTime: Duration, peakResidentMemory: Int?) {
        self.userTime = userTime
        self.systemTime = systemTime
        self.peakResidentMemory = peakResidentMemory
    }

    /// The CPU times and the peak, for logs.
    ///
    /// ```swift
    /// print(usage)   // user 0.3 s, system 20 ms, peak 64 MiB
    /// ```
    public var description: String {
        let peak = peakResidentMemory.map { "\(($0 + (1 << 19)) >> 20) MiB" } ?? "unknown"
        return "user \(userTime.shortDescription), system \(systemTime.shortDescription), peak \(peak)"
    }
}
