// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process-wide zygote: a copy of this program, started once with posix_spawn, that forks
/// workers on request (about 0.3 ms each, against about 5 ms for a posix_spawn of a dynamically
/// linked Swift program) and reports their exit statuses. Its C side is `zygote.c`.
///
/// If the zygote dies, the workers it forked are told to watch their own pidfds, and a new zygote
/// is started for what is asked next, after any number of deaths: at once after the first death
/// in a while, then after a backoff (10 ms, doubling to 1 s) while deaths come less than a second
/// apart; requests made meanwhile wait for it. Workers are spawned directly instead when the
/// zygote cannot be started, when the kernel has no pidfd, or when five zygotes in a row died
/// before forking anything (a zygote that cannot work, such as one started with a second thread).
final class Zygote: Sendable {
    static let shared = Zygote()

    /// The worker's wait status and its own rusage; `(nil, nil)` when the zygote died first.
    typealias ExitHandler = @Sendable (Int32?, pebble_rusage?) -> Void
    /// Called on the zygote's queue with the new worker; returns who to tell when it exits.
    typealias Completion = @Sendable (Result<SpawnedWorker, PebbleError>) -> ExitHandler?

    private struct Request {
        let name: String?
        let completion: Completion
    }

    private struct Connection {
        let control: Int32
        let pid: pid_t
        /// The control socket's watch; only cancelled.
        let source: EventRegistration
    }

    private struct State {
        var connection: Connection?
        /// Deaths of zygotes that had not forked a worker yet, in a row.
        var failuresInARow = 0
        /// Whether the live zygote has forked a worker.
        var forked = false
        var lastDeath: DispatchTime?
        var backoff: Duration = .zero
        /// No new zygote before then; requests wait in `held` and a restart is scheduled.
        var restartAt: DispatchTime?
        var restartScheduled = false
        var held: [Request] = []
        var nextID: UInt32 = 1
        var requests: [UInt32: Request] = [:]
        var exitHandlers: [pid_t: ExitHandler] = [:]
    }

    private let state = StateLock(State())
    private let queue = DispatchQueue(label: "pebble.zygote")

    static let kernelHasPidfd: Bool = {
        let fd = pebble_pidfd_open(getpid())
        if fd >= 0 { close(fd) }
        return fd >= 0
    }()

    /// The zygote's pid while it runs.
    var pid: pid_t? { state.withLock { $0.connection?.pid } }

    /// Zygotes that die before forking anything this many times in a row are given up on.
    static let maxFailuresInARow = 5
    static let maxBackoff = Duration.seconds(1)

    private enum Route { case ready(Connection), waitForRestart, spawnDirectly }

    /// Forks a worker; `completion` runs on the zygote's queue (or the caller's, for a direct spawn).
    func spawn(name: String?, completion: @escaping Completion) {
        let sent: Bool = state.withLock { state in
            let control: Int32
            switch route(&state) {
            case .spawnDirectly: return false
            case .waitForRestart:
                state.held.append(Request(name: name, completion: completion))
                return true
            case .ready(let connection): control = connection.control
            }
            let id = state.nextID
            state.nextID &+= 1
            var request = pebble_zygote_request()
            request.id = id
            withUnsafeMutableBytes(of: &request.name) { bytes in
                for (index, byte) in (name ?? "").utf8.prefix(15).enumerated() { bytes[index] = byte }
            }
            guard send(control, &request, MemoryLayout<pebble_zygote_request>.size, Int32(MSG_NOSIGNAL)) > 0 else { return false }
            state.requests[id] = Request(name: name, completion: completion)
            return true
        }
        if !sent { spawnDirectly(name: name, completion: completion) }
    }

    private func spawnDirectly(name: String?, completion: Completion) {
        do {
            _ = completion(.success(try WorkerSpawner.spawn(name: name)))
        } catch {
            _ = completion(.failure(error as? PebbleError ?? PebbleError(.spawnFailed, "\(error)")))
        }
    }

    /// The live connection, starting the zygote if there is none and its backoff has passed.
    private func route(_ state: inout State) -> Route {
        if let connection = state.connection { return .ready(connection) }
        // The zygote protocol passes pidfds: without them (Linux < 5.3), workers are spawned directly.
        guard state.failuresInARow < Self.maxFailuresInARow, !ChildReaper.pidfdDisabled.withLock({ $0 }),
            Self.kernelHasPidfd
        else { return .spawnDirectly }
        if let restartAt = state.restartAt, DispatchTime.now() < restartAt {
            if !state.restartScheduled {
                state.restartScheduled = true
                queue.asyncAfter(deadline: restartAt) { [weak self] in self?.restartAfterBackoff() }
            }
            return .waitForRestart
        }
        state.restartAt = nil
        return connection(&state).map(Route.ready) ?? .spawnDirectly
    }

    /// The backoff has passed: the held requests start a new zygote (or are spawned directly).
    private func restartAfterBackoff() {
        let held: [Request] = state.withLock { state in
            state.restartScheduled = false
            state.restartAt = nil
            defer { state.held = [] }
            return state.held
        }
        for request in held { spawn(name: request.name, completion: request.completion) }
    }

    /// Starts a zygote; `nil` when it cannot be started.
    private func connection(_ state: inout State) -> Connection? {
        guard
            let (pid, control, pidfd) = try? WorkerSpawner.spawnSelf(
                role: "PEBBLE_ZYGOTE_CONTROL", name: "pebble-zygote", type: Int32(SOCK_SEQPACKET.rawValue))
        else { return nil }
        close(pidfd)
        let source = EventRegistration(fd: control, interest: .readable, queue: queue)
        source.setEventHandler { [weak self] in self?.receive(control) }
        source.setCancelHandler { close(control) }
        source.resume()
        state.connection = Connection(control: control, pid: pid, source: source)
        state.forked = false
        return state.connection
    }

    private func receive(_ control: Int32) {
        while true {
            var message = pebble_zygote_message()
            var fds: [Int32] = [-1, -1]
            var fdCount: Int32 = 0
            let got = pebble_receive_with_fds(control, &message, MemoryLayout<pebble_zygote_message>.size, &fds, 2, &fdCount)
            if got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            guard got == MemoryLayout<pebble_zygote_message>.size else {
                for fd in fds.prefix(Int(fdCount)) { close(fd) }
                return zygoteDied(control)
            }
            handle(message, fds: Array(fds.prefix(Int(fdCount))))
        }
    }

    private func handle(_ message: pebble_zygote_message, fds: [Int32]) {
        switch Int(message.type) {
        case PEBBLE_ZYGOTE_SPAWNED:
            let request = state.withLock { state in
                state.forked = true
                state.failuresInARow = 0
                return state.requests.removeValue(forKey: message.id)
            }
            guard let request else {
                for fd in fds { close(fd) }
                return
            }
            guard fds.count == 2 else {
                for fd in fds { close(fd) }
                _ = request.completion(.failure(PebbleError(.spawnFailed, "the zygote sent worker \(message.pid) without its descriptors")))
                return
            }
            let worker = SpawnedWorker(pid: message.pid, channel: fds[0], pidfd: fds[1], origin: .zygote)
            if let onExit = request.completion(.success(worker)) {
                state.withLock { $0.exitHandlers[message.pid] = onExit }
            }
        case PEBBLE_ZYGOTE_EXITED:
            let usage = pebble_rusage(user_usec: message.user_usec, system_usec: message.system_usec, maxrss_kb: message.maxrss_kb)
            state.withLock { $0.exitHandlers.removeValue(forKey: message.pid) }?(message.status, usage)
        default:
            guard let request = state.withLock({ $0.requests.removeValue(forKey: message.id) }) else { return }
            _ = request.completion(
                .failure(PebbleError(.spawnFailed, "fork in the zygote failed: \(String(cString: strerror(message.status)))")))
        }
    }

    /// The zygote is gone: its workers watch their own pidfds from now on, and what was asked of it
    /// is asked again (of a new zygote, or by direct spawn).
    private func zygoteDied(_ control: Int32) {
        let (requests, orphans): ([Request], [ExitHandler]) = state.withLock { state in
            guard let connection = state.connection, connection.control == control else { return ([], []) }
            connection.source.cancel()
            // Our own child and not yet reaped, so the pid is still its own.
            kill(connection.pid, SIGKILL)
            var status: Int32 = 0
            waitpid(connection.pid, &status, 0)
            state.connection = nil
            if !state.forked { state.failuresInARow += 1 }
            // The first death in a while restarts at once; deaths less than a second apart back off.
            let now = DispatchTime.now()
            if let last = state.lastDeath, now.uptimeNanoseconds &- last.uptimeNanoseconds < 1_000_000_000 {
                state.backoff = min(max(state.backoff * 2, .milliseconds(10)), Self.maxBackoff)
            } else {
                state.backoff = .zero
            }
            state.lastDeath = now
            state.restartAt = state.backoff > .zero ? state.backoff.deadlineFromNow : nil
            defer {
                state.requests = [:]
                state.exitHandlers = [:]
            }
            return (Array(state.requests.values), Array(state.exitHandlers.values))
        }
        for orphan in orphans { orphan(nil, nil) }
        for request in requests { spawn(name: request.name, completion: request.completion) }
    }
}
