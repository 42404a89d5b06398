/// The error swift-pebble throws for misuse, bad input and pool-level failures.
///
/// Errors are matched by ``code``; the ``message`` says what went wrong and how to fix it.
///
/// ```swift
/// do {
///     _ = try pool.schedule { 1 }
/// } catch let error as PebbleError where error.code == .poolNotRunning {
///     print("pool already closed:", error)
/// }
/// ```
public struct PebbleError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is. New codes may be added in later versions.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// An argument was out of range; the message names it.
        public static let invalidArgument = Code("invalidArgument")
        /// `schedule`/`map` on a pool that was closed, stopped or broken.
        public static let poolNotRunning = Code("poolNotRunning")
        /// `join` on a pool that was neither closed nor stopped.
        public static let poolStillRunning = Code("poolStillRunning")
        /// A blocking wait (`result(timeout:)`, `join(timeout:)`, `get(timeout:)`) ran out of time.
        public static let waitTimedOut = Code("waitTimedOut")
        /// A job type that a worker process cannot look up by name (private, fileprivate or local).
        public static let jobNotResolvable = Code("jobNotResolvable")
        /// A job, its input or its output could not be encoded.
        public static let encodingFailed = Code("encodingFailed")
        /// A job, its input or its output could not be decoded.
        public static let decodingFailed = Code("decodingFailed")
        /// The worker initializer threw.
        public static let initializerFailed = Code("initializerFailed")
        /// The call would wait for itself, such as `join` from inside one of the pool's own tasks.
        public static let wouldDeadlock = Code("wouldDeadlock")
        /// A message between the pool and a worker is larger than the pool's `maxMessageSize`.
        public static let messageTooLarge = Code("messageTooLarge")
        /// A worker broke the channel protocol (garbage on its channel); the worker was stopped.
        public static let protocolViolation = Code("protocolViolation")
        /// The operating system refused to start a worker process.
        public static let spawnFailed = Code("spawnFailed")
    }

    /// What kind of failure this is.
    public let code: Code
    /// A sentence a person can act on.
    public let message: String

    /// Creates an error with a code and a message.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "PebbleError.\(code): \(message)" }

    static func invalidArgument(_ name: String, _ problem: String) -> PebbleError {
        PebbleError(.invalidArgument, "invalid argument '\(name)': \(problem)")
    }
}

/// A task ran past its timeout and was stopped.
///
/// ```swift
/// let future = try pool.schedule(Sleep(seconds: 10), timeout: .milliseconds(100))
/// if let error = try future.error() as? TimeoutError { print(error.timeout) }
/// ```
public struct TimeoutError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The timeout the task exceeded.
    public let timeout: Duration
    /// Creates the error for a task that exceeded `timeout`.
    public init(timeout: Duration) { self.timeout = timeout }
    public var description: String { "TimeoutError: the task ran past its timeout of \(timeout) and was stopped" }
}

/// The worker process died while it ran the task: a crash, a signal or an `exit` call.
///
/// ```swift
/// if let expired = try future.error() as? ProcessExpired {
///     print(expired.pid, expired.exitCode ?? -1, expired.signal ?? 0)
/// }
/// ```
public struct ProcessExpired: Error, Hashable, Sendable, CustomStringConvertible {
    /// The pid of the worker that died.
    public let pid: Int32
    /// The exit status when the process exited, `nil` when a signal killed it.
    public let exitCode: Int32?
    /// The signal that killed the process, `nil` when it exited.
    public let signal: Int32?

    /// Creates the error for a worker that died.
    public init(pid: Int32, exitCode: Int32?, signal: Int32?) {
        self.pid = pid
        self.exitCode = exitCode
        self.signal = signal
    }

    public var description: String {
        if let signal { return "ProcessExpired: worker \(pid) was killed by signal \(signal) while running the task" }
        return "ProcessExpired: worker \(pid) exited with status \(exitCode ?? -1) while running the task"
    }
}

/// An error thrown by a job in a worker process whose type could not be rebuilt in the parent
/// (it is not `Codable`, or not resolvable by name).
///
/// ```swift
/// if let remote = try future.error() as? RemoteError { print(remote.typeName, remote.message) }
/// ```
public struct RemoteError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The Swift type name of the original error, as `String(reflecting:)` printed it in the worker.
    public let typeName: String
    /// `String(describing:)` of the original error, in the worker.
    public let message: String
    /// The pid of the worker that ran the job.
    public let pid: Int32

    /// Creates a remote error.
    public init(typeName: String, message: String, pid: Int32) {
        self.typeName = typeName
        self.message = message
        self.pid = pid
    }

    public var description: String { "RemoteError(\(typeName)) in worker \(pid): \(message)" }
}
