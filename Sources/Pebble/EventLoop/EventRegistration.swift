// SPDX-License-Identifier: Apache-2.0
import Dispatch
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One descriptor watched by the ``EventLoop``, with the surface of a Dispatch read or write
/// source: an event handler and a cancel handler that run on the registration's queue,
/// ``resume()``, ``cancel()``, ``isCancelled``.
///
/// - The watch is one-shot: after an event the handler runs on `queue`, and the descriptor is
///   re-armed once it returned (unless cancelled), so a descriptor that stays ready brings the
///   handler back, as a level-triggered Dispatch source does.
/// - Hang-up and error are ordinary events: the handler reads (or writes) and sees end-of-file or
///   the error.
/// - ``cancel()`` may be called from any thread, any number of times. On `queue`, after any
///   handler already running, the descriptor leaves the epoll set and then the cancel handler
///   runs, exactly once: it is where the owner closes the descriptor, which is never closed while
///   epoll holds it.
final class EventRegistration: Sendable {
    enum Interest: Sendable {
        case readable, writable

        var events: UInt32 {
            switch self {
            case .readable: UInt32(PEBBLE_EPOLL_IN | PEBBLE_EPOLL_RDHUP | PEBBLE_EPOLL_ONESHOT)
            case .writable: UInt32(PEBBLE_EPOLL_OUT | PEBBLE_EPOLL_ONESHOT)
            }
        }
    }

    typealias Handler = @Sendable () -> Void

    let fd: Int32
    let queue: DispatchQueue
    let interest: Interest
    private let loop: EventLoop

    private struct State {
        var machine = EventRegistrationStateMachine()
        var eventHandler: Handler?
        var cancelHandler: Handler?
    }

    private let state = StateLock(State())

    /// A registration of `fd`, not yet watching: set the handlers, then ``resume()``.
    init(fd: Int32, interest: Interest, queue: DispatchQueue, loop: EventLoop = .shared) {
        self.fd = fd
        self.interest = interest
        self.queue = queue
        self.loop = loop
    }

    /// Runs on `queue` for each event (readiness, hang-up or error).
    func setEventHandler(_ handler: @escaping Handler) {
        state.withLock { $0.eventHandler = handler }
    }

    /// Runs once on `queue` after ``cancel()``, once the descriptor left the epoll set: close it here.
    func setCancelHandler(_ handler: @escaping Handler) {
        state.withLock { $0.cancelHandler = handler }
    }

    /// Starts watching. Further calls do nothing.
    func resume() {
        state.withLock { state in
            guard state.machine.resume() == .add else { return }
            // Under the lock: the table holds the registration before an event can name it, and an
            // event that comes at once finds the state already `watching`.
            if let token = loop.add(self) {
                state.machine.added(token: token)
            } else {
                state.machine.addFailed()
                deliver()
            }
        }
    }

    /// Whether ``cancel()`` was called.
    var isCancelled: Bool { state.withLock { $0.machine.cancelRequested } }

    /// Stops watching: on `queue`, the descriptor leaves the epoll set, then the cancel handler runs.
    func cancel() {
        guard state.withLock({ $0.machine.cancel() }) else { return }
        queue.async { [self] in performCancel() }
    }

    /// The loop saw an event for this registration.
    func deliver() {
        queue.async { [self] in handleEvent() }
    }

    /// On `queue`.
    private func handleEvent() {
        guard let handler = state.withLock({ $0.machine.eventArrived() ? $0.eventHandler : nil }) else { return }
        handler()
        state.withLock { state in
            guard case .rearm(let token) = state.machine.handlerReturned() else { return }
            loop.rearm(fd: fd, events: interest.events, token: token)
        }
    }

    /// On `queue`, once.
    private func performCancel() {
        let cancelHandler: Handler? = state.withLock { state in
            if case .remove(let token) = state.machine.performCancel() {
                loop.remove(fd: fd, token: token)
            }
            state.eventHandler = nil
            defer { state.cancelHandler = nil }
            return state.cancelHandler
        }
        cancelHandler?()
    }
}
