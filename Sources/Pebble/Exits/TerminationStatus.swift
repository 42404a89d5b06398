// SPDX-License-Identifier: Apache-2.0

/// How a process ended: its exit code, or the signal that killed it.
///
/// ```swift
/// let result = try await Command("false").run()
/// if case .exited(let code) = result.status { print("exit code", code) }   // exit code 1
/// ```
public enum TerminationStatus: Sendable, Hashable, CustomStringConvertible {
    /// The process called `exit` (or returned from `main`) with this code.
    case exited(Int32)
    /// The process was killed by this signal.
    case signaled(Int32)

    /// Whether the process exited with code 0.
    ///
    /// ```swift
    /// assert(TerminationStatus.exited(0).isSuccess)
    /// ```
    public var isSuccess: Bool { self == .exited(0) }

    /// "exited with code 3", "killed by signal 9".
    ///
    /// ```swift
    /// print(TerminationStatus.signaled(9))   // killed by signal 9
    /// ```
    public var description: String {
        switch self {
        case .exited(let code): "exited with code \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        }
    }

    /// The status a `waitpid` wait status encodes.
    init(waitStatus status: Int32) {
        let signal = status & 0x7F
        self = signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
    }
}
