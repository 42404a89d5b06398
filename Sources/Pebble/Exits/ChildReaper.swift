// SPDX-License-Identifier: Apache-2.0
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Exit watching for kernels without pidfd (Linux before 5.3): one SIGCHLD signal source for the
/// process, and on each signal a `waitid(P_PID, …, WNOHANG | WNOWAIT)` per watched worker. Never
/// `waitpid(-1)`, which would steal the children of other code (Foundation's `Process`, the user's).
///
/// Process-wide effect, on those kernels only: libdispatch installs its own SIGCHLD handler for the
/// source (SIGCHLD's default action is to ignore it, so nothing else changes).
final class ChildReaper: Sendable {
    static let shared = ChildReaper()

    /// Set by tests to take this path on a kernel that has pidfd.
    static let pidfdDisabled = StateLock(false)

    private let watched = StateLock<[pid_t: @Sendable () -> Void]>([:])
    private let queue = DispatchQueue(label: "pebble.child-reaper")
    // DispatchSourceSignal is not Sendable in corelibs-dispatch; it is created once, then never touched.
    nonisolated(unsafe) private let source: any DispatchSourceSignal

    private init() {
        source = DispatchSource.makeSignalSource(signal: SIGCHLD, queue: queue)
        source.setEventHandler { [weak self] in self?.checkAll() }
        // The source is armed asynchronously, after resume(): a child that exits before that sends
        // a SIGCHLD nobody sees. The registration handler runs once it is armed and catches it.
        source.setRegistrationHandler { [weak self] in self?.checkAll() }
        source.resume()
    }

    /// Calls `exited` once, on the reaper's queue, when child `pid` has exited (it is not reaped).
    func watch(_ pid: pid_t, exited: @escaping @Sendable () -> Void) {
        watched.withLock { $0[pid] = exited }
        // It may have exited before it was watched.
        queue.async { [self] in checkAll() }
    }

    private func checkAll() {
        let exited: [@Sendable () -> Void] = watched.withLock { watched in
            let gone = watched.keys.filter(Self.hasExited)
            return gone.compactMap { watched.removeValue(forKey: $0) }
        }
        for notify in exited { notify() }
    }

    private static func hasExited(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        return waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info._sifields._sigchld.si_pid == pid
    }
}
