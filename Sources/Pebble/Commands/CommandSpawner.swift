import _PebbleShim

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts a command's reaper (`command_reaper.c`): the pipes and the control socket, the C strings, the
/// PATH lookup and the limits, then `pebble_command_spawn`.
enum CommandSpawner {
    /// The parent's ends and the reaper, just started.
    struct Spawned {
        let reaper: pid_t
        let reaperPidfd: Int32
        /// The reaper's stacks and its copy of the spec, to release once it has exited.
        let reaperMemory: ReaperMemory
        let stdin: Int32
        let stdout: Int32
        let stderr: Int32
        let control: Int32
    }

    static func spawn(_ command: Command) throws -> Spawned {
        // [parent, child] per stream; every descriptor close-on-exec, the parent's ends non-blocking.
        var opened: [Int32] = []
        func closeAll() { for fd in opened { close(fd) } }
        func pipeEnds() throws -> (read: Int32, write: Int32) {
            var ends: [Int32] = [-1, -1]
            guard pebble_pipe_cloexec(&ends) == 0 else { throw error("pipe2") }
            opened += ends
            return (ends[0], ends[1])
        }
        do {
            let input = try pipeEnds(), output = try pipeEnds(), errors = try pipeEnds()
            var pair: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
                throw error("socketpair")
            }
            opened += pair
            for fd in [input.write, output.read, errors.read, pair[0]] {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            }
            let (reaper, memory) = try start(command, stdin: input.read, stdout: output.write, stderr: errors.write, control: pair[1])
            for fd in [input.read, output.write, errors.write, pair[1]] { close(fd) }
            let pidfd = ChildReaper.pidfdDisabled.withLock { $0 } ? -1 : pebble_pidfd_open(reaper)
            return Spawned(
                reaper: reaper, reaperPidfd: pidfd, reaperMemory: memory, stdin: input.write, stdout: output.read,
                stderr: errors.read, control: pair[0])
        } catch {
            closeAll()
            throw error
        }
    }

    private static func start(
        _ command: Command, stdin: Int32, stdout: Int32, stderr: Int32, control: Int32
    ) throws -> (pid_t, ReaperMemory) {
        let environment = command.environment.map { $0.map { "\($0.key)=\($0.value)" } } ?? currentEnvironment()
        let paths = candidates(for: command.executable, environment: command.environment)
        let limits = rlimits(command.limits)
        let arguments = [command.executable] + command.arguments
        var pid: pid_t = -1
        var memory: UnsafeMutableRawPointer?
        withCStrings(arguments) { argv in
            withCStrings(environment) { envp in
                withCStrings(paths) { candidates in
                    limits.withUnsafeBufferPointer { limits in
                        withOptionalCString(command.workingDirectory) { directory in
                            var spec = pebble_command_spec(
                                argv: argv, envp: envp, paths: candidates, directory: directory,
                                limits: limits.baseAddress, limit_count: Int32(limits.count),
                                stdin_fd: stdin, stdout_fd: stdout, stderr_fd: stderr, control_fd: control)
                            pid = pebble_command_spawn(&spec, &memory)
                        }
                    }
                }
            }
        }
        guard pid > 0, let memory else { throw error("clone of the command's reaper") }
        return (pid, ReaperMemory(memory))
    }

    /// The paths to try: the executable itself when it has a slash, else each PATH entry (the
    /// command's own PATH if it sets one) joined with it, as `execvp` does.
    static func candidates(for executable: String, environment: [String: String]?) -> [String] {
        if executable.contains("/") { return [executable] }
        let path = environment?["PATH"] ?? getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":", omittingEmptySubsequences: false).map { directory in
            directory.isEmpty ? executable : "\(directory)/\(executable)"
        }
    }

    private static func currentEnvironment() -> [String] {
        var environment: [String] = []
        var entry = pebble_environ()
        while let pointer = entry?.pointee {
            environment.append(String(cString: pointer))
            entry = entry! + 1
        }
        return environment
    }

    private static func rlimits(_ limits: ResourceLimits) -> [pebble_rlimit] {
        var result: [pebble_rlimit] = []
        func add(_ resource: Int32, _ value: Int?) {
            if let value { result.append(pebble_rlimit(resource: resource, value: UInt64(value))) }
        }
        add(Int32(RLIMIT_AS.rawValue), limits.addressSpace)
        add(Int32(RLIMIT_NOFILE.rawValue), limits.openFiles)
        add(Int32(RLIMIT_FSIZE.rawValue), limits.fileSize)
        if let cpu = limits.cpuTime {
            let (seconds, attoseconds) = cpu.components
            add(Int32(RLIMIT_CPU.rawValue), Int(seconds) + (attoseconds > 0 ? 1 : 0))
        }
        return result
    }

    private static func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let string else { return body(nil) }
        return string.withCString { body($0) }
    }

    static func error(_ call: String) -> PebbleError {
        PebbleError(.spawnFailed, "\(call) failed: \(String(cString: strerror(errno)))")
    }
}
