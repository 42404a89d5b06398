// SPDX-License-Identifier: Apache-2.0
import Dispatch

/// An external program to run: a converter, `ffmpeg`, a vendor CLI, `sh -c`.
///
/// ``run(input:timeout:outputLimit:)`` starts it with a clean slate — default signal dispositions,
/// an empty signal mask, only descriptors 0, 1 and 2, a process group of its own, its
/// ``limits`` — writes `input` to its stdin, collects stdout and stderr concurrently, and returns
/// how it ended. A timeout, the cancellation of the awaiting Task, or output over `outputLimit`
/// kills its **whole tree**, including descendants that moved to a process group or session of
/// their own. When the command exits, whatever it left running in the background is killed too:
/// when `run` returns or throws, nothing of the command is left — no process, no zombie, no
/// descriptor. See <doc:RunningCommands>.
///
/// ```swift
/// let result = try await Command("sh", arguments: ["-c", "sleep 60 & echo started"])
///     .run(timeout: .seconds(5))
/// print(result.outputText)   // "started\n"; the background sleep is gone too
/// ```
public struct Command: Sendable, Hashable {
    /// A path, or a name looked up in `PATH` (the command's own, if ``environment`` sets one).
    ///
    /// The lookup is `execvp`'s: each entry in order, a missing or unusable file moving on to the
    /// next. An empty entry (`::`, or one at either end) means the current directory, and a
    /// relative entry is relative too: both are resolved in the command's ``workingDirectory``
    /// (where it starts), not in this process's. Without a `PATH`, `/usr/local/bin:/usr/bin:/bin`.
    ///
    /// ```swift
    /// var command = Command("ls")
    /// command.executable = "/usr/bin/ls"
    /// ```
    public var executable: String
    /// The arguments after the program name (`argv[1...]`).
    ///
    /// ```swift
    /// let command = Command("tar", arguments: ["-xzf", "archive.tar.gz"])
    /// ```
    public var arguments: [String]
    /// The whole environment of the command; `nil` passes this process's environment.
    ///
    /// ```swift
    /// let command = Command("/usr/bin/env", environment: ["LANG": "C"])
    /// ```
    public var environment: [String: String]?
    /// The directory the command starts in; `nil` is this process's.
    ///
    /// ```swift
    /// let command = Command("ls", workingDirectory: "/tmp")
    /// ```
    public var workingDirectory: String?
    /// Resource limits set in the command's process before it starts (never in yours).
    ///
    /// ```swift
    /// let command = Command("convert", arguments: ["in.png", "out.jpg"],
    ///                       limits: ResourceLimits(addressSpace: 1 << 30, cpuTime: .seconds(30)))
    /// ```
    public var limits: ResourceLimits

    /// Describes a command; nothing runs until ``run(input:timeout:outputLimit:)``.
    ///
    /// ```swift
    /// let command = Command("grep", arguments: ["-c", "error"])
    /// ```
    public init(
        _ executable: String, arguments: [String] = [], environment: [String: String]? = nil,
        workingDirectory: String? = nil, limits: ResourceLimits = .none
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.limits = limits
    }

    /// Runs the command to its end and returns its status and output. A non-zero exit is a
    /// ``CommandResult/status``, not an error.
    ///
    /// - Parameters:
    ///   - input: written to the command's stdin, which is then closed (at once when empty).
    ///   - timeout: past it, the whole tree is killed and this throws ``TimeoutError``.
    ///   - outputLimit: the most bytes kept from stdout and stderr together; past it, the tree is
    ///     killed and this throws ``PebbleError`` `.outputLimitExceeded`.
    /// - Throws: ``TimeoutError``; `CancellationError` when the awaiting Task is cancelled (the tree
    ///   is killed); ``PebbleError`` `.spawnFailed` (with the reason) when the executable cannot be
    ///   started, `.outputLimitExceeded`, `.invalidArgument` (also for a NUL character in the
    ///   executable, an argument, the working directory or the environment, or an `=` in an
    ///   environment variable's name). It returns or throws only once the command's whole tree is
    ///   gone. A command that stops reading its input does not hold the run up: once it exited,
    ///   the rest of the input is dropped.
    ///
    /// ```swift
    /// let result = try await Command("cat").run(input: Array("hello".utf8), timeout: .seconds(2))
    /// print(result.outputText)   // hello
    /// ```
    public func run(input: [UInt8] = [], timeout: Duration? = nil, outputLimit: Int = 16 << 20) async throws -> CommandResult {
        try validate(timeout: timeout, outputLimit: outputLimit)
        try Task.checkCancellation()
        let execution = try CommandExecution(self, input: input, timeout: timeout, outputLimit: outputLimit)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                execution.start { continuation.resume(with: $0) }
            }
        } onCancel: {
            execution.stop(.cancelled)
        }
    }

    /// The blocking twin of the async ``run(input:timeout:outputLimit:)``, for code that is not
    /// async: the same run, waited for on this thread.
    ///
    /// ```swift
    /// let result = try Command("date", arguments: ["+%Y"]).run(timeout: .seconds(1))
    /// print(result.outputText)
    /// ```
    @available(*, noasync, renamed: "run(input:timeout:outputLimit:)", message: "blocks the thread")
    public func run(input: [UInt8] = [], timeout: Duration? = nil, outputLimit: Int = 16 << 20) throws -> CommandResult {
        try validate(timeout: timeout, outputLimit: outputLimit)
        let execution = try CommandExecution(self, input: input, timeout: timeout, outputLimit: outputLimit)
        let outcome = StateLock<Result<CommandResult, any Error>?>(nil)
        let finished = DispatchSemaphore(value: 0)
        execution.start { result in
            outcome.withLock { $0 = result }
            finished.signal()
        }
        finished.wait()
        return try outcome.withLock { $0! }.get()
    }

    /// The blocking run under its earlier name.
    ///
    /// ```swift
    /// let result = try Command("true").run()   // was: .runBlocking()
    /// ```
    @available(*, noasync, renamed: "run(input:timeout:outputLimit:)", message: "blocks the thread")
    @available(*, deprecated, renamed: "run(input:timeout:outputLimit:)")
    public func runBlocking(input: [UInt8] = [], timeout: Duration? = nil, outputLimit: Int = 16 << 20) throws -> CommandResult {
        try run(input: input, timeout: timeout, outputLimit: outputLimit)
    }

    private func validate(timeout: Duration?, outputLimit: Int) throws {
        try validateTimeout(timeout)
        if outputLimit < 0 { throw PebbleError.invalidArgument("outputLimit", "must not be negative, got \(outputLimit)") }
        try limits.validate()
        if executable.isEmpty { throw PebbleError.invalidArgument("executable", "must not be empty") }
        // A C string ends at its first NUL: anything after it would be dropped without a word.
        try Self.rejectNUL(executable, "executable")
        for (index, argument) in arguments.enumerated() { try Self.rejectNUL(argument, "arguments[\(index)]") }
        if let workingDirectory { try Self.rejectNUL(workingDirectory, "workingDirectory") }
        for (key, value) in environment ?? [:] {
            try Self.rejectNUL(key, "environment")
            try Self.rejectNUL(value, "environment[\"\(key)\"]")
            if key.isEmpty || key.utf8.contains(UInt8(ascii: "=")) {
                throw PebbleError.invalidArgument("environment", "a variable name must be non-empty and have no '=', got \"\(key)\"")
            }
        }
    }

    private static func rejectNUL(_ string: String, _ name: String) throws {
        if string.utf8.contains(0) {
            throw PebbleError.invalidArgument(name, "must not contain a NUL character, got \(string.debugDescription)")
        }
    }
}
