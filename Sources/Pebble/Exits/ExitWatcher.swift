// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one place that learns how a process ended: used by worker processes, commands (for their
/// reaper) and ``watchExit(of:)``.
///
/// How the exit is seen, by origin:
/// - `.child`, this process's own child: its pidfd watched by the ``EventLoop`` (readable once it exited), or,
///   on kernels without pidfd, the ``ChildReaper``'s SIGCHLD source. Never `waitpid(-1)`.
/// - `.zygote`, a worker the zygote forked: the zygote reaps it and reports its status
///   (``finish()`` is then called by the owner); if the zygote dies, ``watchPidfd()`` watches it.
///
/// How the status is read once it exited (``reap``): `waitid(P_PIDFD, WNOHANG)` reaps it when it
/// is a zombie child of ours — our own child, or a zygote worker reparented to us after the zygote
/// died because this program is PID 1 or a subreaper (issue 9.4: it would stay a zombie). When it
/// is not ours to reap — the zygote reaped it, or SIGCHLD is ignored and the kernel reaped it
/// (issue 9.8: `waitpid` fails with ECHILD) — the status comes from the pidfd (`PIDFD_GET_INFO`,
/// Linux 6.15), or is `nil` (unknown), never a made-up 0.
///
/// Callbacks run on `queue`: `exited` once with the wait status (or `nil`), when the watch saw
/// the exit; `closed` once, when the pidfd is closed (without one, when ``finish()`` is called).
final class ExitWatcher: Sendable {
    enum Origin: Sendable { case child, zygote }

    let pid: pid_t
    let origin: Origin
    private let pidfd: Int32
    private let queue: DispatchQueue
    /// For workers: kill what is left of the child's process group (a job's children) before reaping.
    private let killsGroupAtExit: Bool

    private struct State {
        /// Whether signals may still be sent: not once the process is reaped, so that no signal
        /// can reach a recycled pid.
        var signallable = true
        var source: ExitSource?
        /// Whether the pidfd is still ours to close (not yet closed, not handed to a source).
        var pidfdOwned: Bool
        var exited: (@Sendable (Int32?) -> Void)?
        var closed: (@Sendable () -> Void)?
        /// The reaped process's own rusage, when this watcher reaped it.
        var reapedUsage: pebble_rusage?
    }

    private let state: StateLock<State>

    init(
        pid: pid_t, pidfd: Int32, origin: Origin, queue: DispatchQueue, killsGroupAtExit: Bool = false,
        exited: (@Sendable (Int32?) -> Void)? = nil, closed: (@Sendable () -> Void)? = nil
    ) {
        self.pid = pid
        self.pidfd = pidfd
        self.origin = origin
        self.queue = queue
        self.killsGroupAtExit = killsGroupAtExit
        state = StateLock(State(pidfdOwned: pidfd >= 0, exited: exited, closed: closed ?? {}))
    }

    /// Sets the callbacks, for an owner that cannot name itself before its init ends. Before ``start()``.
    func setHandlers(exited: @escaping @Sendable (Int32?) -> Void, closed: @escaping @Sendable () -> Void) {
        state.withLock { state in
            state.exited = exited
            state.closed = closed
        }
    }

    /// The process's own rusage (the raw `waitid`'s), once this watcher reaped it; `nil` before,
    /// or when it was not ours to reap.
    var reapedUsage: pebble_rusage? { state.withLock { $0.reapedUsage } }

    /// Starts watching a child of ours (a zygote's worker is watched by the zygote).
    func start() {
        guard origin == .child else { return }
        if pidfd >= 0 { return watchPidfd() }
        // No pidfd: `closed` comes from finish(), after the exit.
        ChildReaper.shared.watch(pid) { [self] in queue.async { self.processExited() } }
    }

    /// Watches the pidfd: for a child from the start, for a zygote's worker once the zygote died.
    func watchPidfd() {
        let source = EventRegistration(fd: pidfd, interest: .readable, queue: queue)
        // The handlers hold the watcher strongly; the registration releases them once cancelled.
        source.setEventHandler { [self] in processExited() }
        // Closed only once the event loop has stopped watching it, so the number cannot be reused under it.
        source.setCancelHandler { [self, pidfd] in
            close(pidfd)
            let closed = state.withLock { state in
                defer { state.closed = nil }
                return state.closed
            }
            closed?()
        }
        let handed = state.withLock { state in
            guard state.pidfdOwned else { return false }
            state.pidfdOwned = false
            state.source = ExitSource(source: source)
            return true
        }
        if handed { source.resume() }
    }

    /// Sends `signal` while the process is unreaped: a child with its whole process group (its
    /// group id cannot have been reused while its leader is unreaped) when `group`. A zygote's
    /// worker first through its pidfd, which cannot reach a recycled pid and fails once the worker
    /// is reaped; only when that succeeded, and with `group`, its process group too: once the
    /// zygote is dead nobody else kills the group when the worker dies. (The window between the
    /// two calls is microseconds: the worker would have to be reaped, and its pid reused as a
    /// group id, inside it.)
    func signal(_ signal: Int32, group: Bool = true) {
        state.withLock { state in
            guard state.signallable else { return }
            if origin == .zygote {
                if pebble_pidfd_send_signal(pidfd, signal) == 0 && group { killpg(pid, signal) }
            } else if group {
                killpg(pid, signal)
            } else {
                kill(pid, signal)
            }
        }
    }

    /// The process is gone (the zygote reported it, or the owner is done with it): no more
    /// signals, stop watching, close the pidfd. Call on `queue`. Idempotent.
    func finish() {
        let source: ExitSource? = state.withLock { state in
            state.signallable = false
            state.exited = nil
            defer { state.source = nil }
            return state.source
        }
        if let source { source.source.cancel() } else { closePidfd() }
    }

    private func closePidfd() {
        let closed: (@Sendable () -> Void)? = state.withLock { state in
            let owned = state.pidfdOwned || pidfd < 0
            guard owned, let closed = state.closed else { return nil }
            state.pidfdOwned = false
            state.closed = nil
            return closed
        }
        guard let closed else { return }
        if pidfd >= 0 { close(pidfd) }
        closed()
    }

    /// The watch saw the exit: reap, report once.
    private func processExited() {
        let status = reap()
        let exited = state.withLock { state in
            defer { state.exited = nil }
            return state.exited
        }
        exited?(status)
    }

    /// Reaps the exited process if it is ours to reap; its wait status, or `nil` when unknown.
    private func reap() -> Int32? {
        state.withLock { state -> Int32? in
            guard state.signallable else { return nil }
            defer { state.signallable = false }
            var status: Int32 = 0
            // Kills what is left of a worker's group first, while the zombie pins the group id.
            let killGroup: Int32 = killsGroupAtExit && origin == .child ? 1 : 0
            var usage = pebble_rusage()
            if pebble_reap_exited(pid, pidfd, killGroup, &status, &usage) == 1 {
                state.reapedUsage = usage
                return status
            }
            if pidfd >= 0 && pebble_pidfd_exit_status(pidfd, &status) == 0 { return status }
            return nil
        }
    }
}
