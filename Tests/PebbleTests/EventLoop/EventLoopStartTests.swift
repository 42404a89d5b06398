// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import Pebble

/// In a fresh process (a `.spawn` worker, where no loop runs yet), with one descriptor left: the
/// first `watchExit(of:)` cannot start the loop (it needs an epoll descriptor and a pipe) and
/// throws `.spawnFailed` instead of crashing the process; once descriptors are free again the
/// next call starts the loop and sees the child's exit.
struct EventLoopStartJob: ProcessJob {
    struct Outcome: Codable, Sendable {
        var firstError: String?
        var firstMessage: String?
        var exitStatus: String?
    }

    func run() async throws -> Outcome {
        var pid: pid_t = 0
        let path = "/bin/true"
        let spawned = withCStrings([path]) { argv in posix_spawn(&pid, path, nil, nil, argv, environ) }
        guard spawned == 0 else { throw PebbleError(.spawnFailed, "posix_spawn /bin/true: \(spawned)") }
        // Every descriptor number below a limit just above the highest open one taken, but one.
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        var lowered = limit
        let openFDs = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").compactMap { Int32($0) }
        lowered.rlim_cur = rlim_t((openFDs.max() ?? 2) + 1)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &lowered)
        var fillers: [Int32] = []
        while true {
            let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
            if fd < 0 { break }
            fillers.append(fd)
        }
        if let last = fillers.popLast() { close(last) }
        var outcome = Outcome()
        do {
            _ = try watchExit(of: pid)
        } catch let error as PebbleError {
            outcome.firstError = error.code.description
            outcome.firstMessage = error.message
        }
        for fd in fillers { close(fd) }
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        outcome.exitStatus = "\(try await watchExit(of: pid).value)"
        return outcome
    }
}

@Suite(.timeLimit(.minutes(2))) struct EventLoopStartTests {
    @Test func noDescriptorForTheLoopFailsTheCallNotTheProcess() throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: .spawn)
        defer { pool.stop() }
        let outcome = try pool.schedule(EventLoopStartJob()).result(timeout: .seconds(60))
        #expect(outcome.firstError == PebbleError.Code.spawnFailed.description, "\(outcome)")
        #expect(outcome.firstMessage?.contains("event loop") == true, "\(outcome)")
        #expect(outcome.exitStatus == "\(TerminationStatus.exited(0))", "\(outcome)")
    }
}
