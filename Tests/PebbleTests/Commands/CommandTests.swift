// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing
import _PebbleShim

@testable import Pebble
@testable import PebbleTestSupport

/// Whether process `pid` exists (a zombie counts).
func processExists(_ pid: pid_t) -> Bool { kill(pid, 0) == 0 || errno == EPERM }

@Suite(.serialized, .timeLimit(.minutes(2)))
struct CommandTests {
    @Test func echoFoundInPath() async throws {
        let result = try await Command("echo", arguments: ["hello", "world"]).run()
        #expect(result.status == .exited(0))
        #expect(result.outputText == "hello world\n")
        #expect(result.standardError.isEmpty)
        #expect(result.pid > 0)
    }

    @Test func megabyteOfStdinRoundTripsThroughCat() async throws {
        let input = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let result = try await Command("cat").run(input: input)
        #expect(result.status.isSuccess)
        #expect(result.standardOutput == input)
    }

    @Test func fiveMegabytesOnBothStreamsAtOnce() async throws {
        let script = "head -c 5242880 /dev/zero | tr '\\0' a & head -c 5242880 /dev/zero | tr '\\0' b >&2; wait"
        let result = try await Command("/bin/sh", arguments: ["-c", script]).run(timeout: .seconds(30))
        #expect(result.status.isSuccess)
        #expect(result.standardOutput.count == 5 << 20)
        #expect(result.standardError.count == 5 << 20)
        #expect(result.standardOutput.allSatisfy { $0 == UInt8(ascii: "a") })
        #expect(result.standardError.allSatisfy { $0 == UInt8(ascii: "b") })
    }

    @Test func exitCodeAndSignalAreStatuses() async throws {
        #expect(try await Command("sh", arguments: ["-c", "exit 3"]).run().status == .exited(3))
        #expect(try await Command("sh", arguments: ["-c", "kill -TERM $$"]).run().status == .signaled(SIGTERM))
    }

    @Test func blockingRunReturnsTheStatus() throws {
        #expect(try Command("false").run().status == .exited(1))
        #expect(try Command("cat").run(input: [65, 66]).outputText == "AB")
        #expect(throws: TimeoutError.self) { try Command("sleep", arguments: ["5"]).run(timeout: .milliseconds(100)) }
    }

    @Test func environmentAndWorkingDirectory() async throws {
        let result = try await Command(
            "/bin/sh", arguments: ["-c", "echo $GREETING; pwd"],
            environment: ["GREETING": "hi there"], workingDirectory: "/tmp"
        ).run()
        #expect(result.outputText == "hi there\n/tmp\n")
        let inherited = try await Command("sh", arguments: ["-c", "echo $HOME"]).run()
        #expect(inherited.outputText == "\(ProcessInfo.processInfo.environment["HOME"] ?? "")\n")
    }

    @Test func missingExecutableIsSpawnFailed() async throws {
        let error = await #expect(throws: PebbleError.self) { try await Command("pebble-no-such-program").run() }
        #expect(error?.code == .spawnFailed)
        #expect(error?.message.contains("No such file or directory") == true)
        let directory = await #expect(throws: PebbleError.self) {
            try await Command("true", workingDirectory: "/no/such/dir").run()
        }
        #expect(directory?.code == .spawnFailed)
    }

    /// A grandchild that left for a session of its own (setsid) is killed with the command.
    /// A grandchild that left for a session of its own (setsid) is killed with the command. Blocking,
    /// so that the time measured is the command's, not the wait for a cooperative thread.
    @Test func timeoutKillsASetsidGrandchild() throws {
        let file = grandchildFile()
        defer { unlink(file) }
        let started = ContinuousClock.now
        #expect(throws: TimeoutError.self) { _ = try grandchildCommand(file).run(timeout: .seconds(2)) }
        let took = ContinuousClock.now - started
        #expect(took >= .seconds(2) && took < .seconds(4), "took \(took)")
        let grandchild = readPid(file)
        #expect(grandchild > 0)
        #expect(!processExists(grandchild), "grandchild \(grandchild) survived")
    }

    @Test func cancellationKillsTheTree() async throws {
        let file = grandchildFile()
        defer { unlink(file) }
        let task = Task { try await grandchildCommand(file).run() }
        // Cancel once the grandchild wrote its pid. (A wide bound: in the full suite the task may
        // wait long for a cooperative thread, which blocking tests hold.)
        _ = try await Command("/bin/sh", arguments: ["-c", "while [ ! -s \(file) ]; do sleep 0.01; done"]).run(timeout: .seconds(120))
        task.cancel()
        let started = ContinuousClock.now
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(ContinuousClock.now - started < .seconds(60))
        let grandchild = readPid(file)
        #expect(grandchild > 0)
        #expect(!processExists(grandchild), "grandchild \(grandchild) survived")
    }

    private func grandchildFile() -> String { "/tmp/pebble-grandchild-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" }

    /// `sh -c` that starts a grandchild in a session of its own (setsid), which writes its pid to
    /// `file` (the run throws, so its stdout is lost) and sleeps.
    private func grandchildCommand(_ file: String) -> Command {
        Command("/bin/sh", arguments: ["-c", "setsid sh -c 'echo $$ > \(file); exec sleep 60' & wait"])
    }

    private func readPid(_ file: String) -> pid_t {
        pid_t(((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    @Test func outputOverTheLimitKillsTheTree() async throws {
        let error = await #expect(throws: PebbleError.self) {
            try await Command("yes").run(timeout: .seconds(20), outputLimit: 1 << 16)
        }
        #expect(error?.code == .outputLimitExceeded)
        let exact = try await Command("head", arguments: ["-c", "1000", "/dev/zero"]).run(outputLimit: 1000)
        #expect(exact.standardOutput.count == 1000)
    }

    @Test func openFilesLimitIsSeenByTheChild() async throws {
        let result = try await Command("sh", arguments: ["-c", "ulimit -n"], limits: ResourceLimits(openFiles: 37)).run()
        #expect(result.outputText == "37\n")
    }

    @Test func childSeesOnlyDescriptorsZeroToTwo() async throws {
        // The shell's own loop: no ls, whose directory descriptor would show up.
        let script = "for fd in /proc/self/fd/*; do echo ${fd##*/}; done"
        let result = try await Command("/bin/sh", arguments: ["-c", script]).run()
        let fds = Set(result.outputText.split(separator: "\n").map(String.init))
        // The glob itself may list the directory descriptor the shell opened to read it.
        #expect(fds.subtracting(["0", "1", "2"]).count <= 1, "\(fds)")
        let probe = try await Command(
            "/bin/sh",
            arguments: [
                "-c",
                "exec 2>/dev/null; for n in 3 4 5 6 7 8 9 10 11 12 20 50 100; do if { true >&$n; } 2>/dev/null; then echo $n; fi; done"
            ]
        ).run()
        #expect(probe.outputText.isEmpty, "open: \(probe.outputText)")
    }

    @Test func signalStateIsClean() async throws {
        let result = try await Command("/bin/sh", arguments: ["-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status"]).run()
        let lines = result.outputText.split(separator: "\n")
        #expect(lines.first { $0.hasPrefix("SigBlk") }?.hasSuffix("0000000000000000") == true, "\(lines)")
        // glibc's posix_spawn/vfork path leaves signals 32 and 33 ignored (bits 31, 32; platform notes); nothing else ignored.
        let ignored = lines.first { $0.hasPrefix("SigIgn") }.flatMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) } ?? .max
        #expect(ignored & ~UInt64(0x1_8000_0000) == 0, "\(lines)")
    }

    @Test func hundredConcurrentRuns() async throws {
        let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for index in 0..<100 {
                group.addTask { (index, try await Command("echo", arguments: ["\(index)"]).run().outputText) }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == 100)
        for index in 0..<100 { #expect(results[index] == "\(index)\n") }
    }

    // 200 mixed runs leaving descriptors and children at the baseline: testMixedCommandsLeaveNothingBehind
    // in the reliability suite, which runs alone so that the counts are its own.

    @Test func invalidArguments() async throws {
        let error = await #expect(throws: PebbleError.self) { try await Command("true").run(outputLimit: -1) }
        #expect(error?.code == .invalidArgument)
    }
}
