// SPDX-License-Identifier: Apache-2.0
/// An error thrown by a job in a worker process whose type could not be rebuilt in the parent
/// (it is not `Codable`, or not resolvable by name).
///
/// ```swift
/// if let remote = try future.error() as? RemoteError { print(remote.typeName, remote.message) }
/// ```
public struct RemoteError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The Swift type name of the original error, as `String(reflecting:)` printed it in the worker.
    ///
    /// ```swift
    /// if remote.typeName.hasSuffix("DiskFull") { print("out of space in the worker") }
    /// ```
    public let typeName: String
    /// `String(describing:)` of the original error, in the worker.
    ///
    /// ```swift
    /// print(remote.message)   // DiskFull(path: "/var/reports")
    /// ```
    public let message: String
    /// The pid of the worker that ran the job.
    ///
    /// ```swift
    /// print("thrown in worker", remote.pid)
    /// ```
    public let pid: Int32

    /// Creates a remote error.
    ///
    /// ```swift
    /// let error = RemoteError(typeName: "App.DiskFull", message: "DiskFull(path: \"/var\")", pid: 4242)
    /// ```
    public init(typeName: String, message: String, pid: Int32) {
        self.typeName = typeName
        self.message = message
        self.pid = pid
    }

    /// `RemoteError(<type>) in worker <pid>: <message>`.
    ///
    /// ```swift
    /// print(RemoteError(typeName: "App.DiskFull", message: "disk full", pid: 4242))
    /// // RemoteError(App.DiskFull) in worker 4242: disk full
    /// ```
    public var description: String { "RemoteError(\(typeName)) in worker \(pid): \(message)" }
}
