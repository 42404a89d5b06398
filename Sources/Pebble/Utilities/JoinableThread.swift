// SPDX-License-Identifier: Apache-2.0
import Dispatch
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A body run once on its own detached POSIX thread, which other threads can join with a
/// timeout. It is Python's `threading.Thread` for ``waitForThreads(_:timeout:)``.
///
/// Joining blocks the calling thread on a condition variable; do not join from Swift
/// concurrency tasks, which must not block their threads for long.
///
/// ```swift
/// let worker = JoinableThread(name: "worker") { print("hello from a thread") }
/// worker.start()
/// if !worker.join(timeout: .seconds(5)) { print("still running") }
/// ```
public final class JoinableThread: Sendable {
    private struct State: Sendable {
        var body: (@Sendable () -> Void)?
        var started = false
        var finished = false
        /// The running thread, recorded by the thread itself before it runs the body.
        var thread: pthread_t?
        var waiters: [ObjectIdentifier: ReadinessWaiter] = [:]
    }

    /// The name given to the thread, if any. The operating system keeps at most its first
    /// 15 bytes, the limit of `pthread_setname_np`.
    ///
    /// ```swift
    /// JoinableThread(name: "indexer") {}.name   // "indexer"
    /// ```
    public let name: String?
    private let state: ConditionLock<State>

    /// Creates a thread that will run `body` once started.
    ///
    /// - Parameters:
    ///   - name: The thread name shown by debuggers and `top -H`; `nil` leaves the
    ///     operating system's default. Names longer than 15 bytes are cut to 15.
    ///   - body: The work to run on the new thread.
    ///
    /// ```swift
    /// let thread = JoinableThread(name: "indexer") { buildIndex() }
    /// ```
    public init(name: String? = nil, _ body: @escaping @Sendable () -> Void) {
        self.name = name
        state = ConditionLock(State(body: body))
    }

    /// Starts the thread. Starting a thread twice is a programming error and traps, and so is
    /// the operating system refusing to create a thread.
    ///
    /// ```swift
    /// thread.start()
    /// ```
    public func start() {
        state.withLock {
            precondition(!$0.started, "JoinableThread.start() called twice")
            $0.started = true
        }
        let status = startDetachedThread { self.run() }
        guard status == 0 else {
            fatalError("JoinableThread.start(): pthread_create failed: \(String(cString: strerror(status)))")
        }
    }

    /// Waits until the thread has finished its body.
    ///
    /// A thread that was not started yet counts as not finished: the call waits for it to be
    /// started and to finish. Joining a thread from itself returns `false` at once instead of
    /// waiting forever.
    ///
    /// - Parameter timeout: How long to wait; `nil` (the default) waits forever, a negative
    ///   timeout counts as zero.
    /// - Returns: `true` when the thread has finished, `false` when the timeout passed first or
    ///   the call was made on the thread itself.
    ///
    /// ```swift
    /// if thread.join(timeout: .seconds(1)) { print("done") }
    /// ```
    @discardableResult
    public func join(timeout: Duration? = nil) -> Bool {
        let isSelf = state.withLock { $0.thread.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
        if isSelf { return false }
        return state.withLock(when: \.finished, before: deadline(after: timeout)) { _ in } != nil
    }

    /// Whether the thread was started and has not finished its body yet.
    ///
    /// ```swift
    /// if thread.isAlive { print("still working") }
    /// ```
    public var isAlive: Bool {
        state.withLock { $0.started && !$0.finished }
    }

    /// The new thread's entry point: names the thread, runs the body once, then wakes joiners.
    private func run() {
        if let name { Self.setCurrentThreadName(name) }
        let body = state.withLock { state in
            state.thread = pthread_self()
            defer { state.body = nil }
            return state.body
        }
        body?()
        let waiters = state.withLock {
            $0.finished = true
            return Array($0.waiters.values)
        }
        state.broadcast()
        waiters.forEach { $0.notify() }
    }

    /// Names the calling thread, cut to the 15 bytes Linux allows without splitting a character.
    private static func setCurrentThreadName(_ name: String) {
        var bytes = 0
        let prefix = name.unicodeScalars.prefix { scalar in
            bytes += scalar.utf8.count
            return bytes <= 15
        }
        pebble_set_thread_name(String(String.UnicodeScalarView(prefix)))
    }
}

extension JoinableThread: ReadinessSource {
    var isReady: Bool { state.withLock { $0.finished } }

    func addWaiter(_ waiter: ReadinessWaiter) {
        state.withLock { $0.waiters[ObjectIdentifier(waiter)] = waiter }
    }

    func removeWaiter(_ waiter: ReadinessWaiter) {
        state.withLock { $0.waiters[ObjectIdentifier(waiter)] = nil }
    }
}

/// Waits until at least one of `threads` has finished, like Pebble's `waitforthreads`.
///
/// The call wakes as soon as one of the threads finishes; it does not poll.
///
/// - Parameters:
///   - threads: The threads to watch; threads not started yet count as not finished.
///   - timeout: How long to wait; `nil` (the default) waits forever, a negative timeout counts
///     as zero.
/// - Returns: The finished threads, in input order, or `[]` when the timeout passed first.
///
/// ```swift
/// let threads = (0..<4).map { i in JoinableThread(name: "part-\(i)") { process(part: i) } }
/// threads.forEach { $0.start() }
/// let finished = waitForThreads(threads, timeout: .seconds(10))
/// ```
public func waitForThreads(_ threads: [JoinableThread], timeout: Duration? = nil) -> [JoinableThread] {
    waitForReady(threads, timeout: timeout)
}
