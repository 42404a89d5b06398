// SPDX-License-Identifier: Apache-2.0
import Dispatch
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Watches a child of this process that you started some other way (`posix_spawn`, `fork`,
/// Foundation's `Process` is *not* one: it reaps its own), reaps it when it exits, and completes
/// with how it ended. Event-driven: its pidfd in Pebble's event loop (a SIGCHLD source on kernels before
/// 5.3), never `waitpid(-1)` and never a polling loop.
///
/// The future fails with ``PebbleError`` `.invalidArgument` when the exit status cannot be known
/// (SIGCHLD ignored on a kernel without `PIDFD_GET_INFO`). Watch a pid once: a second watch of the
/// same child races the first for its status.
///
/// - Throws: ``PebbleError`` `.invalidArgument` when `pid` is not an unreaped child of this process.
///
/// ```swift
/// var pid: pid_t = 0
/// posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ)
/// let status = try await watchExit(of: pid).value   // .exited(0), a second later
/// ```
public func watchExit(of pid: Int32) throws -> Future<TerminationStatus> {
    guard pid > 0 else { throw PebbleError.invalidArgument("pid", "must be a process id (positive), got \(pid)") }
    var info = siginfo_t()
    guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else {
        throw PebbleError.invalidArgument(
            "pid",
            errno == ECHILD
                ? "process \(pid) is not a child of this process (or was already reaped)"
                : "cannot watch process \(pid): \(String(cString: strerror(errno)))")
    }
    try EventLoop.start()
    // An unreaped child: its pid cannot be recycled, so the pidfd refers to it.
    let pidfd = ChildReaper.pidfdDisabled.withLock { $0 } ? -1 : pebble_pidfd_open(pid)
    let future = Future<TerminationStatus>()
    let watcher = ExitWatcher(pid: pid, pidfd: pidfd, origin: .child, queue: exitWatchQueue)
    // The handler holds the watcher (its only owner besides its source) until the exit; it then
    // stops watching and closes its pidfd, which drops the handler.
    watcher.setHandlers(
        exited: { [watcher] status in
            if let status {
                future.complete(.success(TerminationStatus(waitStatus: status)))
            } else {
                future.complete(
                    .failure(
                        PebbleError(
                            .invalidArgument,
                            "process \(pid) exited, but its status cannot be known (SIGCHLD is ignored in this process)")))
            }
            watcher.finish()
        }, closed: {})
    watcher.start()
    return future
}

/// The queue `watchExit` watchers report on: they only reap and complete a future there.
private let exitWatchQueue = DispatchQueue(label: "pebble.watch-exit")
