// SPDX-License-Identifier: Apache-2.0
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
        /// struct Upload: ProcessJob {
        ///     let handle: FileHandleBox   // its encode(to:) throws: a handle cannot cross processes
        ///     func run() async throws -> Int { 0 }
        /// }
        /// let future = try pool.schedule(Upload(handle: box))   // fails with .encodingFailed
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
        /// The operating system refused what running work needs: a worker process, the event loop
        /// that watches workers and commands, or the descriptors or memory to send a job its
        /// request (then only that task fails, and its worker is replaced).
        ///
        /// ```swift
        /// if let error = try future.error() as? PebbleError, error.code == .spawnFailed {
        ///     print("cannot start worker processes:", error.message)
        /// }
        /// ```
        public static let spawnFailed = Code("spawnFailed")
        /// `schedule`/`map` on a pool whose queue already holds `maxPending` tasks: nothing was enqueued.
        ///
        /// ```swift
        /// do { _ = try pool.schedule(job) } catch let error as PebbleError where error.code == .queueFull {
        ///     respondBusy()   // shed load: HTTP 503
        /// }
        /// ```
        public static let queueFull = Code("queueFull")
        /// A ``Command`` wrote more than its `outputLimit` bytes; its whole process tree was killed.
        ///
        /// ```swift
        /// _ = try await Command("yes").run(outputLimit: 1 << 20)   // throws .outputLimitExceeded
        /// ```
        public static let outputLimitExceeded = Code("outputLimitExceeded")
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

    /// What `schedule`, `map` and `run` throw once a pool takes no more work.
    static let poolNotRunning = PebbleError(.poolNotRunning, "the pool was closed or stopped; create a new pool to schedule more work")

    /// What a pool's `join(timeout:)` throws when `timeout` passed with tasks still running.
    static func joinTimedOut(after timeout: Duration?) -> PebbleError {
        PebbleError(.waitTimedOut, "tasks are still running after \(timeout ?? .zero)")
    }
}
