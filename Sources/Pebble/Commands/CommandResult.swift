// SPDX-License-Identifier: Apache-2.0

/// What a finished ``Command`` left: its pid, how it ended, and everything it wrote.
///
/// ```swift
/// let result = try await Command("uname", arguments: ["-s"]).run()
/// print(result.status, result.outputText)   // exited with code 0 Linux
/// ```
public struct CommandResult: Sendable, Hashable {
    /// The command's process id (gone by the time you see it).
    ///
    /// ```swift
    /// print("ran as pid", result.pid)
    /// ```
    public var pid: Int32
    /// How the command itself ended; a non-zero exit is a status, not an error.
    ///
    /// ```swift
    /// if !result.status.isSuccess { print("failed:", result.status) }
    /// ```
    public var status: TerminationStatus
    /// Everything the command (and its descendants) wrote to standard output.
    ///
    /// ```swift
    /// let bytes = result.standardOutput.count
    /// ```
    public var standardOutput: [UInt8]
    /// Everything written to standard error.
    ///
    /// ```swift
    /// print(String(decoding: result.standardError, as: UTF8.self))
    /// ```
    public var standardError: [UInt8]

    /// What the command's process tree used: the CPU time of the command and of every descendant
    /// that was reaped, and as ``ResourceUsage/peakResidentMemory`` the largest peak resident set
    /// of any of them — `nil` when it is no larger than this program's own peak, which every
    /// process of the tree inherits in its kernel-reported peak, so that the command's cannot be
    /// told apart.
    ///
    /// ```swift
    /// let result = try await Command("make").run()
    /// print("make took", result.resourceUsage.userTime + result.resourceUsage.systemTime, "of CPU")
    /// ```
    public var resourceUsage: ResourceUsage

    /// Creates a result (for tests of code that takes one).
    ///
    /// ```swift
    /// let fake = CommandResult(pid: 1, status: .exited(0), standardOutput: Array("hi\n".utf8), standardError: [])
    /// ```
    public init(
        pid: Int32, status: TerminationStatus, standardOutput: [UInt8], standardError: [UInt8],
        resourceUsage: ResourceUsage = ResourceUsage(userTime: .zero, systemTime: .zero, peakResidentMemory: nil)
    ) {
        self.pid = pid
        self.status = status
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.resourceUsage = resourceUsage
    }

    /// ``standardOutput`` decoded as UTF-8 (invalid bytes become U+FFFD).
    ///
    /// ```swift
    /// print(try await Command("echo", arguments: ["hi"]).run().outputText)   // "hi\n"
    /// ```
    public var outputText: String { String(decoding: standardOutput, as: UTF8.self) }
}
