// SPDX-License-Identifier: Apache-2.0

/// Kernel resource limits (`setrlimit`) for worker processes and commands.
///
/// A pool sets them in every worker before its first task, and a ``Command`` in its child before
/// `exec`; they are never applied to your own process. A job or command that goes over a limit is
/// stopped by the kernel: a pool reports ``ProcessExpired`` and runs the next task in a fresh worker
/// with the same limits.
///
/// ```swift
/// var configuration = ProcessPool.Configuration(maxWorkers: 2)
/// configuration.limits = ResourceLimits(addressSpace: 512 << 20, cpuTime: .seconds(10))
/// let pool = try ProcessPool(configuration: configuration)
/// ```
public struct ResourceLimits: Sendable, Hashable {
    /// The most virtual memory, in bytes (`RLIMIT_AS`): past it, allocations fail.
    public var addressSpace: Int?
    /// The most CPU time (`RLIMIT_CPU`, whole seconds, rounded up). In a pool it counts per task,
    /// not over a worker's lifetime.
    public var cpuTime: Duration?
    /// The most open descriptors (`RLIMIT_NOFILE`).
    public var openFiles: Int?
    /// The largest file that may be written, in bytes (`RLIMIT_FSIZE`).
    public var fileSize: Int?

    /// Limits; `nil` leaves a resource as the process inherited it.
    ///
    /// ```swift
    /// let limits = ResourceLimits(openFiles: 64)
    /// ```
    public init(addressSpace: Int? = nil, cpuTime: Duration? = nil, openFiles: Int? = nil, fileSize: Int? = nil) {
        self.addressSpace = addressSpace
        self.cpuTime = cpuTime
        self.openFiles = openFiles
        self.fileSize = fileSize
    }

    /// No limits: everything as inherited.
    ///
    /// ```swift
    /// assert(ResourceLimits.none == ResourceLimits())
    /// ```
    public static let none = ResourceLimits()
}

extension ResourceLimits {
    /// Throws `.invalidArgument` naming the first limit out of range.
    func validate() throws {
        for (name, value) in [("addressSpace", addressSpace), ("openFiles", openFiles), ("fileSize", fileSize)] {
            if let value, value < 1 { throw PebbleError.invalidArgument("limits.\(name)", "must be at least 1, got \(value)") }
        }
        if let cpuTime, cpuTime <= .zero {
            throw PebbleError.invalidArgument("limits.cpuTime", "must be positive, got \(cpuTime)")
        }
    }
}
