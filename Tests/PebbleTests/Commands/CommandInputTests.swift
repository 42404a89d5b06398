// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing
import _PebbleShim

@testable import Pebble
@testable import PebbleTestSupport

/// Runs `body` (a blocking run) on a thread of its own and awaits its outcome, or `nil` when it had
/// not returned after `seconds` (a hang: the thread is left behind, and the test fails). No
/// cooperative thread is blocked meanwhile.
private func outcome(within seconds: Double, _ body: @escaping @Sendable () throws -> CommandResult) async -> Result<
    CommandResult, any Error
>? {
    let resumed = StateLock(false)
    return await withCheckedContinuation { (continuation: CheckedContinuation<Result<CommandResult, any Error>?, Never>) in
        @Sendable func finish(_ result: Result<CommandResult, any Error>?) {
            if resumed.withLock({ done in
                defer { done = true }
                return !done
            }) {
                continuation.resume(returning: result)
            }
        }
        Thread { finish(Result { try body() }) }.start()
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { finish(nil) }
    }
}

/// Commands that stop reading their input, or never start, never hold the run up; a timeout or a
/// cancel always ends it. Bad strings are rejected rather than cut at a NUL.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CommandInputTests {
    static let megabyte = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)

    @Test func aCommandThatReadsPartOfItsInputAndExits() async throws {
        let input = [UInt8](repeating: UInt8(ascii: "a"), count: 70_000)
        let run = await outcome(within: 60) { try Command("head", arguments: ["-c", "10"]).run(input: input, timeout: .seconds(3)) }
        let result = try #require(run, "the run hung").get()
        #expect(result.status == .exited(0))
        #expect(result.standardOutput == Array(input.prefix(10)))
    }

    @Test func aCommandThatNeverReadsItsInputAndExits() async throws {
        let run = await outcome(within: 60) { try Command("/bin/sh", arguments: ["-c", "sleep 0.5; exit 0"]).run(input: Self.megabyte) }
        #expect(try #require(run, "the run hung").get().status == .exited(0))
    }

    /// A regression check, not a test of the fix (issue 21): before it, such a run hung only when
    /// the input had filled the pipe before the failed exec closed the child's end (a full pipe
    /// whose reader is gone reports only `EPOLLERR`, which the Dispatch source ignored), a race the
    /// old code lost 4 times of 5 in the issue but may win every time. The fix's deterministic test
    /// is `aCommandThatNeverReadsItsInputAndExits()`: there the pipe is full long before the exit.
    @Test("Regression check: an executable that cannot start, with input")
    func anExecutableThatCannotStartWithInput() async throws {
        for _ in 0..<5 {
            let run = await outcome(within: 60) { try Command("/pebble/no/such/program").run(input: Self.megabyte) }
            let failure = try #require(run, "the run hung").failure as? PebbleError
            #expect(failure?.code == .spawnFailed)
        }
    }

    @Test func aGrandchildThatKeepsStdinOpenDoesNotHoldTheRun() async throws {
        // The background sleep keeps stdin (as descriptor 3 made stdin again) and never reads it.
        let script = "exec 3<&0; sleep 60 <&3 & exit 0"
        let started = ContinuousClock.now
        let run = await outcome(within: 60) { try Command("/bin/sh", arguments: ["-c", script]).run(input: Self.megabyte) }
        #expect(try #require(run, "the run hung").get().status == .exited(0))
        #expect(ContinuousClock.now - started < .seconds(50))
    }

    @Test func aTimeoutEndsARunWhoseInputIsNeverRead() async throws {
        let run = await outcome(within: 60) {
            try Command("/bin/sh", arguments: ["-c", "exec sleep 60"]).run(input: Self.megabyte, timeout: .milliseconds(300))
        }
        #expect(try #require(run, "the run hung").failure is TimeoutError)
    }

    @Test func aCancelEndsARunWhoseInputIsNeverRead() async throws {
        let task = Task { try await Command("/bin/sh", arguments: ["-c", "exec sleep 60"]).run(input: Self.megabyte) }
        // Cancel once the command started reading nothing: any moment does, before or after.
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        let ended = EventCounter()
        let result = Box<Result<CommandResult, any Error>?>(nil)
        Task {
            result.value = await task.result
            ended.record()
        }
        let finished = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: ended.wait(seconds: 60)) }.start()
        }
        #expect(finished, "the run hung")
        #expect(result.value?.failure is CancellationError)
    }

    @Test(arguments: [
        Command("/bin/echo\u{0}x"),
        Command("/bin/echo", arguments: ["a\u{0}b"]),
        Command("/bin/echo", workingDirectory: "/tmp\u{0}x"),
        Command("/bin/echo", environment: ["A\u{0}B": "c"]),
        Command("/bin/echo", environment: ["A": "b\u{0}c"]),
        Command("/bin/echo", environment: ["A=B": "c"]),
        Command("/bin/echo", environment: ["": "c"])
    ])
    func stringsACStringWouldCutAreRejected(_ command: Command) async throws {
        let error = await #expect(throws: PebbleError.self) { try await command.run(timeout: .seconds(10)) }
        #expect(error?.code == .invalidArgument)
        #expect(throws: PebbleError.self) { try command.run(timeout: .seconds(10)) }
    }

    /// Empty and relative `PATH` entries are searched as `execvp` does: in the command's working directory.
    /// A regression check of documented behaviour, not a test of a fix: issue 21 asked for this
    /// lookup to be documented (it already was `execvp`'s), so it passes on the code before too.
    @Test("Regression check: empty and relative PATH entries are the working directory")
    func emptyAndRelativePathEntriesAreTheWorkingDirectorys() async throws {
        let directory = "/tmp/pebble-path-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for path in [directory + "/bin/pebble-tool", directory + "/pebble-here"] {
            _ = FileManager.default.createFile(
                atPath: path, contents: Data("#!/bin/sh\necho found $0\n".utf8),
                attributes: [.posixPermissions: 0o755])
        }
        let relative = try await Command("pebble-tool", environment: ["PATH": "/nonexistent:bin"], workingDirectory: directory)
            .run(timeout: .seconds(20))
        #expect(relative.outputText == "found bin/pebble-tool\n")
        let empty = try await Command("pebble-here", environment: ["PATH": "/nonexistent::/bin"], workingDirectory: directory)
            .run(timeout: .seconds(20))
        #expect(empty.outputText == "found pebble-here\n")
    }
}
