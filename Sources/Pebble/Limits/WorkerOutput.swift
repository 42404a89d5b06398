// SPDX-License-Identifier: Apache-2.0

/// Where a process pool's workers write their standard output and standard error.
///
/// ```swift
/// var configuration = ProcessPool.Configuration()
/// configuration.workerOutput = .capture    // crash messages reach ProcessExpired.diagnostics
/// ```
public struct WorkerOutput: Sendable, Hashable {
    enum Kind: Hashable { case inherit, discard, capture }
    let kind: Kind

    /// Workers write to this process's stdout and stderr (the default).
    ///
    /// ```swift
    /// configuration.workerOutput = .inherit
    /// ```
    public static let inherit = WorkerOutput(kind: .inherit)
    /// Workers' output goes to `/dev/null`.
    ///
    /// ```swift
    /// configuration.workerOutput = .discard
    /// ```
    public static let discard = WorkerOutput(kind: .discard)
    /// The pool reads workers' output: the tail of what a worker wrote to stderr while running a task
    /// that died becomes ``ProcessExpired/diagnostics``; nothing is written anywhere.
    ///
    /// ```swift
    /// configuration.workerOutput = .capture
    /// ```
    public static let capture = WorkerOutput(kind: .capture)
}
