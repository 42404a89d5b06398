// SPDX-License-Identifier: Apache-2.0
import Dispatch
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts worker processes: `posix_spawn` of this program's own executable.
enum WorkerSpawner {
    /// The worker's end of its channel is always this descriptor.
    static let channelFD: Int32 = 3
    static let socketBufferSize: Int32 = 1 << 20

    /// Spawns `/proc/self/exe` as a worker.
    ///
    /// Descriptor and signal hygiene, in order:
    /// 1. The channel is an AF_UNIX stream socketpair, created close-on-exec so no other worker
    ///    spawned meanwhile inherits it; `send(MSG_NOSIGNAL)` means a dead worker never raises SIGPIPE.
    /// 2. The child's end is first moved to a descriptor ≥ 10: `dup2` onto 3 of a descriptor that
    ///    already is 3 would keep its close-on-exec flag and the worker would start with no channel.
    /// 3. The child gets the channel on fd 3 and every other descriptor above 2 is closed, so no
    ///    descriptor of the parent (or of a sibling's channel) leaks into it; stdin/out/err are shared.
    /// 4. The signal mask is emptied and every disposition reset to default: a spawn from a
    ///    Dispatch thread would otherwise hand the worker a mask blocking SIGTERM and friends.
    /// 5. The worker gets its own process group, so stopping it can signal the job's children too.
    /// 6. The pidfd is opened right after the spawn, while the child cannot have been reaped (only
    ///    this pool reaps it), so it refers to this child and never to a recycled pid. Kernels
    ///    without pidfd get -1, and the ``ChildReaper`` instead.
    static func spawn(name: String?) throws -> SpawnedWorker {
        let (pid, channel, pidfd) = try spawnSelf(role: "PEBBLE_WORKER_CHANNEL", name: name)
        return SpawnedWorker(pid: pid, channel: channel, pidfd: pidfd, origin: .child)
    }

    /// Spawns this program with one end of a new socketpair on fd 3 and `role` naming it in the
    /// environment; returns the pid, the parent's end and a pidfd.
    static func spawnSelf(
        role: String, name: String?, type: Int32 = Int32(SOCK_STREAM.rawValue)
    ) throws -> (pid: pid_t, channel: Int32, pidfd: Int32) {
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw spawnError("socketpair")
        }
        let (parentEnd, childEnd) = (ends[0], ends[1])
        for fd in ends { setBufferSizes(fd) }
        let childHigh = fcntl(childEnd, F_DUPFD_CLOEXEC, 10)
        close(childEnd)
        defer { if childHigh >= 0 { close(childHigh) } }
        guard childHigh >= 0 else {
            close(parentEnd)
            throw spawnError("fcntl(F_DUPFD_CLOEXEC)")
        }
        let pid: pid_t
        do {
            pid = try posixSpawnSelf(channel: childHigh, role: role, name: name)
        } catch {
            close(parentEnd)
            throw error
        }
        // Without pidfd (Linux < 5.3), -1: the worker's exit is then watched by the ChildReaper.
        let pidfd = ChildReaper.pidfdDisabled.withLock { $0 } ? -1 : pebble_pidfd_open(pid)
        return (pid, parentEnd, pidfd)
    }

    private static func setBufferSizes(_ fd: Int32) {
        var size = socketBufferSize
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    private static func posixSpawnSelf(channel: Int32, role: String, name: String?) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, channel, channelFD)
        pebble_spawn_addclosefrom(&actions, channelFD + 1)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let arguments = [CommandLine.arguments.first ?? "pebble-worker", "--pebble-worker"]
        let environment = workerEnvironment(role: role, name: name)
        var pid: pid_t = 0
        let status = withCStrings(arguments) { argv in
            withCStrings(environment) { envp in
                posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, argv, envp)
            }
        }
        guard status == 0 else {
            errno = status
            throw spawnError("posix_spawn of /proc/self/exe")
        }
        return pid
    }

    /// This process's environment plus the worker markers. The Swift backtracer is turned off
    /// unless the user configured it: a crash then costs 1 ms instead of 20 and prints no report.
    private static func workerEnvironment(role: String, name: String?) -> [String] {
        var environment: [String] = []
        var hasBacktraceSetting = false
        var entry = pebble_environ()
        while let pointer = entry?.pointee {
            let variable = String(cString: pointer)
            if variable.hasPrefix("SWIFT_BACKTRACE=") { hasBacktraceSetting = true }
            if !variable.hasPrefix("PEBBLE_WORKER_") && !variable.hasPrefix("PEBBLE_ZYGOTE_")
                && !variable.hasPrefix("PEBBLE_PARENT_PID=")
            {
                environment.append(variable)
            }
            entry = entry! + 1
        }
        environment.append("\(role)=\(channelFD)")
        environment.append("PEBBLE_PARENT_PID=\(getpid())")
        if let name { environment.append("PEBBLE_WORKER_NAME=\(name.prefix(15))") }
        if !hasBacktraceSetting { environment.append("SWIFT_BACKTRACE=enable=no") }
        return environment
    }

    private static func spawnError(_ call: String) -> PebbleError {
        PebbleError(.spawnFailed, "\(call) failed: \(String(cString: strerror(errno)))")
    }
}
