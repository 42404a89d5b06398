// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Synchronization

@testable import Pebble
@testable import PebbleTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A value shared between a test and the threads it starts.
final class UtilityTestBox<Value: Sendable>: Sendable {
    private let mutex: StateLock<Value>

    init(_ value: Value) { mutex = StateLock(value) }

    var value: Value {
        get { mutex.withLock { $0 } }
        set { mutex.withLock { $0 = newValue } }
    }

    func update<R: Sendable>(_ body: (inout Value) -> R) -> R {
        mutex.withLock { body(&$0) }
    }
}

/// Helpers for the utility tests. Threads come from Foundation, not from the code under test,
/// and never from the Swift concurrency pool, which has only as many threads as cores.
enum UtilityTestSupport {
    /// A timeout for events that should happen at once; generous for a loaded 2-core machine.
    static let eventTimeout: DispatchTimeInterval = .seconds(30)

    /// Runs `body` on a new thread and waits for its result.
    static func onNewThread<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        let result = UtilityTestBox<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            result.value = body()
            done.signal()
        }.start()
        done.wait()
        return result.value!
    }

    /// Starts `body` on a new thread; the returned semaphore is signalled once it returns.
    @discardableResult
    static func startThread(_ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
        let done = DispatchSemaphore(value: 0)
        Thread {
            body()
            done.signal()
        }.start()
        return done
    }

    /// Waits up to ``eventTimeout`` for `semaphore`; `true` when it was signalled.
    static func waitForEvent(_ semaphore: DispatchSemaphore) -> Bool {
        semaphore.wait(timeout: .now() + eventTimeout) == .success
    }
}

/// A child process started with `posix_spawn`, its standard input and output on pipes.
final class UtilityTestChildProcess {
    struct SpawnFailed: Error { let code: Int32 }

    let pid: pid_t
    private let input: Int32
    private let output: Int32

    init(_ arguments: [String]) throws {
        let stdinPipe = try Self.makePipe(), stdoutPipe = try Self.makePipe()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe.read, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe.write, 1)
        var argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let status = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
        close(stdinPipe.read)
        close(stdoutPipe.write)
        guard status == 0 else {
            close(stdinPipe.write)
            close(stdoutPipe.read)
            throw SpawnFailed(code: status)
        }
        self.pid = pid
        input = stdinPipe.write
        output = stdoutPipe.read
    }

    deinit {
        close(input)
        close(output)
    }

    /// Runs `arguments` to completion and returns the exit status.
    static func run(_ arguments: [String]) throws -> Int32 {
        try UtilityTestChildProcess(arguments).wait()
    }

    /// Reads one line from the child's standard output, blocking until it is written.
    func readLine() -> String {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while read(output, &byte, 1) == 1, byte != UInt8(ascii: "\n") { bytes.append(byte) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Kills the child with SIGKILL and reaps it.
    func kill() {
        killProcess(pid)
        _ = wait()
    }

    /// Waits for the child to exit; its exit status, or -1 when a signal ended it.
    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status & 0x7f == 0 ? (status >> 8) & 0xff : -1
    }

    private static func makePipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SpawnFailed(code: errno) }
        fds.forEach { _ = fcntl($0, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }
}

/// `kill(2)` with SIGKILL, named so that a type's own `kill()` can call it without a module prefix.
private func killProcess(_ pid: pid_t) {
    _ = kill(pid, SIGKILL)
}
