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
    ///
    /// ```swift
    /// switch error.code {
    /// case .waitTimedOut: print("still running")
    /// case .poolNotRunning: print("pool closed")
    /// default: print(error.message)
    /// }
    /// ```
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// The code's name, such as `waitTimedOut`.
        ///
        /// ```swift
        /// print(PebbleError.Code.waitTimedOut)   // waitTimedOut
        /// ```
        public var description: String { name }

        /// An argument was out of range; the message names it.
        ///
        /// ```swift
        /// _ = try ThreadPool(maxWorkers: 0)   // throws .invalidArgument naming 'maxWorkers'
        /// ```
        public static let invalidArgument = Code("invalidArgument")
        /// `schedule`/`map` on a pool that was closed, stopped or broken.
        ///
        /// ```swift
        /// pool.close()
        /// _ = try pool.schedule { 1 }          // throws .poolNotRunning
        /// ```
        public static let poolNotRunning = Code("poolNotRunning")
        /// `join` on a pool that was neither closed nor stopped.
        ///
        /// ```swift
        /// try pool.join()                      // throws .poolStillRunning: call close() or stop() first
        /// ```
        public static let poolStillRunning = Code("poolStillRunning")
        /// A blocking wait (`result(timeout:)`, `join(timeout:)`, `get(timeout:)`) ran out of time.
        ///
        /// ```swift
        /// do {
        ///     _ = try future.result(timeout: .seconds(1))
        /// } catch let error as PebbleError where error.code == .waitTimedOut {
        ///     print("not done yet; the task goes on")
        /// }
        /// ```
        public static let waitTimedOut = Code("waitTimedOut")
        /// A job type that a worker process cannot look up by name (private, fileprivate or local).
        ///
        /// ```swift
        /// func submit(to pool: ProcessPool) throws {
        ///     struct Local: ProcessJob { func run() async throws -> Int { 1 } }
        ///     _ = try pool.schedule(Local())   // throws .jobNotResolvable: declare Local at file scope
        /// }
        /// ```
        public static let jobNotResolvable = Code("jobNotResolvable")
        /// A job, its input or its output could not be encoded.
        ///
        /// ```swift
        /// struct Scale: ProcessJob { let factor: Double; func run() async throws -> Double { factor } }
        /// let future = try pool.schedule(Scale(factor: .nan))   // JSON has no NaN: fails with .encodingFailed
        /// ```
        public static let encodingFailed = Code("encodingFailed")
        /// A job, its input or its output could not be decoded.
        ///
        /// ```swift
        /// if let error = try future.error() as? PebbleError, error.code == .decodingFailed {
        ///     print(error.message)
        /// }
        /// ```
        public static let decodingFailed = Code("decodingFailed")
        /// The worker initializer threw.
        ///
        /// ```swift
        /// struct SetupError: Error {}
        /// let pool = try ThreadPool { throw SetupError() }
        /// let future = try pool.schedule { 1 }   // fails with .initializerFailed; later schedules throw it
        /// ```
        public static let initializerFailed = Code("initializerFailed")
        /// The call would wait for itself, such as `join` from inside one of the pool's own tasks.
        ///
        /// ```swift
        /// let future = try pool.schedule {
        ///     pool.close()
        ///     try pool.join()                     // throws .wouldDeadlock
        /// }
        /// ```
        public static let wouldDeadlock = Code("wouldDeadlock")
        /// A message between the pool and a worker is larger than the pool's `maxMessageSize`.
        ///
        /// ```swift
        /// struct Upload: ProcessJob { let bytes: [UInt8]; func run() async throws -> Int { bytes.count } }
        /// let pool = try ProcessPool(maxMessageSize: 1 << 20)
        /// let future = try pool.schedule(Upload(bytes: Array(repeating: 0, count: 2 << 20)))   // .messageTooLarge
        /// ```
        public static let messageTooLarge = Code("messageTooLarge")
        /// A worker broke the channel protocol (garbage on its channel); the worker was stopped.
        ///
        /// ```swift
        /// if let error = try future.error() as? PebbleError, error.code == .protocolViolation {
        ///     print(error.message)   // names the worker and what it sent
        /// }
        /// ```
        public static let protocolViolation = Code("protocolViolation")
        /// The operating system refused to start a worker process.
        ///
        /// ```swift
        /// if let error = try future.error() as? PebbleError, error.code == .spawnFailed {
        ///     print("cannot start worker processes:", error.message)
        /// }
        /// ```
        public static let spawnFailed = Code("spawnFailed")
    }

    /// What kind of failure this is.
    ///
    /// ```swift
    /// if error.code == .poolNotRunning { print("create a new pool") }
    /// ```
    public let code: Code
    /// A sentence a person can act on.
    ///
    /// ```swift
    /// print(error.message)   // "invalid argument 'chunkSize': must be at least 1, got 0"
    /// ```
    public let message: String

    /// Creates an error with a code and a message.
    ///
    /// ```swift
    /// throw PebbleError(.invalidArgument, "invalid argument 'batch': must not be empty")
    /// ```
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `PebbleError.<code>: <message>`.
    ///
    /// ```swift
    /// print(PebbleError(.waitTimedOut, "the task did not finish within 1 second"))
    /// // PebbleError.waitTimedOut: the task did not finish within 1 second
    /// ```
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
    ///
    /// ```swift
    /// if let error = try future.error() as? TimeoutError { print("gave up after", error.timeout) }
    /// ```
    public let timeout: Duration
    /// Creates the error for a task that exceeded `timeout`.
    ///
    /// ```swift
    /// let error = TimeoutError(timeout: .seconds(2))
    /// ```
    public init(timeout: Duration) { self.timeout = timeout }
    /// A sentence naming the timeout.
    ///
    /// ```swift
    /// print(TimeoutError(timeout: .seconds(2)))
    /// // TimeoutError: the task ran past its timeout of 2.0 seconds and was stopped
    /// ```
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
    ///
    /// ```swift
    /// if let expired = try future.error() as? ProcessExpired { print("worker", expired.pid, "died") }
    /// ```
    public let pid: Int32
    /// The exit status when the process exited, `nil` when a signal killed it.
    ///
    /// ```swift
    /// if let code = expired.exitCode { print("the worker called exit(\(code))") }
    /// ```
    public let exitCode: Int32?
    /// The signal that killed the process, `nil` when it exited.
    ///
    /// ```swift
    /// if expired.signal == SIGKILL { print("killed, perhaps by the OOM killer") }
    /// ```
    public let signal: Int32?

    /// Creates the error for a worker that died.
    ///
    /// ```swift
    /// let error = ProcessExpired(pid: 4242, exitCode: nil, signal: SIGSEGV)
    /// ```
    public init(pid: Int32, exitCode: Int32?, signal: Int32?) {
        self.pid = pid
        self.exitCode = exitCode
        self.signal = signal
    }

    /// A sentence with the pid and the exit status or the signal.
    ///
    /// ```swift
    /// print(ProcessExpired(pid: 4242, exitCode: 3, signal: nil))
    /// // ProcessExpired: worker 4242 exited with status 3 while running the task
    /// ```
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
