// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A handler installed by ``sighandler(_:queue:_:)``; ``cancel()`` removes it.
///
/// The handler stays installed until ``cancel()``, even when the returned object is discarded,
/// like a function decorated with Pebble's `@sighandler`.
///
/// ```swift
/// let handler = sighandler([SIGTERM]) { _ in print("shutting down") }
/// // …
/// handler.cancel()
/// ```
public final class SignalHandler: Sendable {
    /// The signals this handler receives, without duplicates.
    ///
    /// ```swift
    /// sighandler([SIGUSR1, SIGUSR1]) { _ in }.signals   // [SIGUSR1]
    /// ```
    public let signals: [Int32]
    private let sources: [SignalSource]
    private let isActive = Atomic(true)

    fileprivate init(signals: [Int32], queue: DispatchQueue?, handler: @escaping @Sendable (Int32) -> Void) {
        self.signals = signals
        sources = signalRegistry.withLock { $0.install(signals, queue: queue, handler: handler) }
        signalRegistry.withLock { $0.live[ObjectIdentifier(self)] = self }
    }

    /// Stops calling the handler. When no other handler from ``sighandler(_:queue:_:)`` remains
    /// for a signal, the signal's previous disposition is restored. Calling `cancel()` again
    /// does nothing.
    ///
    /// ```swift
    /// handler.cancel()
    /// ```
    public func cancel() {
        guard isActive.exchange(false, ordering: .acquiringAndReleasing) else { return }
        signalRegistry.withLock {
            sources.forEach { $0.source.cancel() }
            $0.uninstall(signals)
            $0.live[ObjectIdentifier(self)] = nil
        }
    }
}

/// Calls `handler` on a Dispatch queue each time one of `signals` arrives, like Pebble's
/// `@sighandler` decorator.
///
/// The handler does not run in signal context: it is an ordinary closure on `queue`, free to
/// lock, allocate and print. Signals of one kind that arrive before the handler ran may be
/// delivered as one call, as the kernel merges pending signals.
///
/// Send signals to the process, with `kill(getpid(), signal)` or from another process. On Linux
/// a signal sent to one thread, with `raise` or `pthread_kill`, reaches the handler only when
/// that thread does not block the signal, and Dispatch and Swift concurrency threads block it.
///
/// - Important: This changes process-wide state. While any handler for a signal is installed,
///   the signal's disposition is taken over: on Linux it is libdispatch's relay, a handler that
///   routes the signal to Dispatch's event thread, and while the first handler is being set up
///   a default disposition is set to ignore (except for `SIGCHLD`). So the signal's default
///   action, such as terminating the process, no longer happens, and a handler installed with
///   `signal` or `sigaction` is not called. The disposition in place before the first handler
///   is saved and restored when the last handler for that signal is cancelled.
///
/// - Parameters:
///   - signals: The signals to handle; duplicates are ignored. `SIGKILL`, `SIGSTOP` and
///     numbers that are not signals are programming errors and trap.
///   - queue: Where `handler` runs; `nil` (the default) runs it on a private serial queue.
///   - handler: Receives the number of the signal that arrived.
/// - Returns: The installed handler, to ``SignalHandler/cancel()`` it. The call returns once
///   the handler is ready to receive signals.
///
/// ```swift
/// let reload = sighandler([SIGHUP, SIGUSR1]) { signal in
///     print("received signal \(signal), reloading configuration")
/// }
/// ```
@discardableResult
public func sighandler(
    _ signals: [Int32], queue: DispatchQueue? = nil, _ handler: @escaping @Sendable (Int32) -> Void
) -> SignalHandler {
    var seen = Set<Int32>()
    let unique = signals.filter { seen.insert($0).inserted }
    for signal in unique {
        precondition(
            signal > 0 && signal < NSIG && signal != SIGKILL && signal != SIGSTOP,
            "sighandler: signal \(signal) cannot be handled")
    }
    return SignalHandler(signals: unique, queue: queue, handler: handler)
}

/// A Dispatch signal source held by a ``SignalHandler``.
private struct SignalSource: @unchecked Sendable {
    // @unchecked Sendable: the `DispatchSourceSignal` protocol is not marked `Sendable`, but a
    // Dispatch source is thread-safe; the only call made on it after setup is `cancel()`.
    let source: any DispatchSourceSignal
}

/// The bookkeeping of every installed ``SignalHandler``, shared by the whole process.
private let signalRegistry = StateLock(SignalRegistry())

/// Takes signal dispositions over for the installed handlers and gives them back.
///
/// On Linux, libdispatch reads signals from a `signalfd`, which only sees a signal that is
/// blocked in the thread it is sent to. So when it registers the first source for a signal in
/// the process, it installs a relay: a handler that blocks the signal in the thread that caught
/// it and resends it to libdispatch's event thread. It never installs it again for that
/// signal, so once a restored disposition has replaced the relay, signals would go to that
/// disposition instead of the source. The registry therefore learns the relay (one handler
/// serves every signal) when libdispatch installs it, and installs it itself afterwards.
private struct SignalRegistry {
    /// How many installed handlers receive a signal, and its disposition before the first one.
    private var users: [Int32: (count: Int, previous: sigaction)] = [:]
    /// libdispatch's relay, once seen.
    private var relay: sigaction?
    /// Handlers not cancelled yet, kept alive so that discarding one does not stop it.
    var live: [ObjectIdentifier: SignalHandler] = [:]

    /// Takes over the dispositions, then creates the sources and waits until they are
    /// registered, so no signal sent after the call returns is missed.
    mutating func install(
        _ signals: [Int32], queue: DispatchQueue?, handler: @escaping @Sendable (Int32) -> Void
    ) -> [SignalSource] {
        let firstUse = signals.filter { takeOver($0) }
        let eventQueue = DispatchQueue(label: "pebble.sighandler")
        let registered = DispatchGroup()
        let sources = signals.map { signal in
            let source = DispatchSource.makeSignalSource(signal: signal, queue: eventQueue)
            source.setEventHandler {
                if let queue { queue.async { handler(signal) } } else { handler(signal) }
            }
            registered.enter()
            source.setRegistrationHandler { registered.leave() }
            source.resume()
            return SignalSource(source: source)
        }
        registered.wait()
        firstUse.forEach { learnRelay($0) }
        return sources
    }

    /// Gives the signals back to their previous dispositions when their last handler goes.
    mutating func uninstall(_ signals: [Int32]) {
        for signal in signals {
            guard var entry = users[signal] else { continue }
            entry.count -= 1
            if entry.count > 0 {
                users[signal] = entry
            } else {
                users[signal] = nil
                sigaction(signal, &entry.previous, nil)
            }
        }
    }

    /// Counts one more handler for `signal`; for the first, saves the disposition and installs
    /// the ``placeholder(for:previous:)``. Returns whether this was the first.
    private mutating func takeOver(_ signal: Int32) -> Bool {
        if let entry = users[signal] {
            users[signal] = (entry.count + 1, entry.previous)
            return false
        }
        var previous = sigaction()
        Self.check(sigaction(signal, nil, &previous), signal)
        users[signal] = (1, previous)
        if var placeholder = placeholder(for: signal, previous: previous) {
            Self.check(sigaction(signal, &placeholder, nil), signal)
        }
        return true
    }

    /// The disposition to set before the first source for `signal` is registered: the relay
    /// when it is known. Otherwise "ignore" in place of a default disposition, so the default
    /// action cannot end the process before libdispatch installs its relay, except for
    /// `SIGCHLD`, whose default already ignores it and which, explicitly ignored, would make the
    /// kernel reap child processes before anyone can `waitpid` for them. `nil` leaves it as is.
    private func placeholder(for signal: Int32, previous: sigaction) -> sigaction? {
        if let relay { return relay }
        guard Self.address(previous) == 0, signal != SIGCHLD else { return nil }
        var ignore = sigaction()
        ignore.__sigaction_handler.sa_handler = SIG_IGN
        return ignore
    }

    /// Remembers libdispatch's relay when registering the first source for `signal` installed it.
    private mutating func learnRelay(_ signal: Int32) {
        guard relay == nil, let previous = users[signal]?.previous else { return }
        var current = sigaction()
        sigaction(signal, nil, &current)
        let address = Self.address(current)
        if address != Self.address(previous) && address != unsafeBitCast(SIG_IGN, to: Int.self) {
            relay = current
        }
    }

    /// The handler address of a disposition: 0 for the default, 1 for "ignore".
    private static func address(_ action: sigaction) -> Int {
        unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self)
    }

    /// Traps when a `sigaction` call failed: the signal cannot be handled.
    private static func check(_ result: Int32, _ signal: Int32) {
        precondition(result == 0, "sighandler: signal \(signal) cannot be handled: \(String(cString: strerror(errno)))")
    }
}
