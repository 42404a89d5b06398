// SPDX-License-Identifier: Apache-2.0
import Foundation
import XCTest
import _PebbleShim

@testable import Pebble
@testable import PebbleTestSupport

/// A job for the churn: writes to stdout and stderr (captured by the pool), then ends its worker
/// one of several ways. Its payload, when large, is fetched by the worker that takes it: a
/// cancel, a timeout or a death can come while it is on its way.
struct ChurnJob: ProcessJob {
    enum Ending: Int, Codable, CaseIterable { case returns, exits, killsItself, timesOut, isCancelled }
    let ending: Ending
    var payload = Data()
    /// Payload sizes: none, inline, and large ones that follow on the worker's channel.
    static let payloadSizes = [0, 1 << 10, 256 << 10, 3 << 20]

    /// Returns the payload's size (`.returns`), so the churn sees it arrived whole.
    func run() async throws -> Int {
        FileHandle.standardOutput.write(Data("churn \(ending) on stdout\n".utf8))
        FileHandle.standardError.write(Data("churn \(ending) on stderr\n".utf8))
        switch ending {
        case .returns: return payload.count
        case .exits: exit(3)
        case .killsItself:
            kill(getpid(), SIGKILL)
            return 0
        case .timesOut, .isCancelled:
            usleep(10_000_000)
            return ending.rawValue
        }
    }
}

/// Every descriptor Pebble watches hangs up over and over, from several threads at once: workers
/// that end every way with their output captured (`maxTasks: 1`, so each task is a new worker:
/// its channel, its two output pipes and its pidfd all hang up), under both start methods;
/// commands whose pipes and control socket close; `watchExit` of children that this test reaps
/// itself. libdispatch's epoll backend crashes the process on such hang-ups of descriptors it
/// watches (SIGSEGV in `_dispatch_event_loop_drain` or SIGILL "Source finalized twice"), which is
/// why every watch goes through ``EventLoop``. After it, nothing has leaked.
///
/// A few seconds by default; `PEBBLE_SOAK=1` runs it for ten minutes, `PEBBLE_CHURN_SECONDS=N` for N
/// seconds. Prints a `CHURN |` line with the counts.
final class ChurnTests: XCTestCase {
    static let environment = ProcessInfo.processInfo.environment
    static let seconds: Double = {
        if let seconds = environment["PEBBLE_CHURN_SECONDS"].flatMap(Double.init) { return seconds }
        if environment["PEBBLE_SOAK"] == "1" { return 600 }
        return environment["PEBBLE_LIGHT"] == "1" ? 3 : 8
    }()

    override class func setUp() {
        super.setUp()
        // Start the zygote, the event loop and Dispatch's own descriptors before any snapshot.
        var configuration = ProcessPool.Configuration(maxWorkers: 1)
        configuration.workerOutput = .capture
        if let pool = try? ProcessPool(configuration: configuration) {
            _ = try? pool.schedule(ChurnJob(ending: .returns)).result()
            _ = try? pool.schedule(ChurnJob(ending: .timesOut), timeout: .milliseconds(1)).error()
            pool.close()
            try? pool.join()
        }
        _ = try? Command("true").run(timeout: .seconds(10))
    }

    func testChurnOfHangUpsNeitherCrashesNorLeaks() throws {
        let before = ResourceSnapshot.take()
        let deadline = Date().addingTimeInterval(Self.seconds)
        let failures = Box<[String]>([])
        let tasks = Box(0), commands = Box(0), watched = Box(0)
        let group = DispatchGroup()
        func runThread(_ name: String, _ body: @escaping @Sendable () throws -> Void) {
            group.enter()
            let thread = Thread {
                do { try body() } catch { failures.update { $0.append("\(name): \(error)") } }
                group.leave()
            }
            thread.name = name
            thread.start()
        }
        for startMethod in [ProcessPool.StartMethod.zygote, .spawn] {
            for index in 0..<2 {
                runThread("pool \(startMethod.label) \(index)") {
                    let done = try Self.churnWorkers(startMethod, until: deadline, failures: failures)
                    tasks.update { $0 += done }
                }
            }
        }
        for index in 0..<3 {
            runThread("commands \(index)") {
                let done = try Self.churnCommands(until: deadline, failures: failures)
                commands.update { $0 += done }
            }
        }
        for index in 0..<3 {
            runThread("watchExit \(index)") {
                let done = try Self.churnExitWatches(until: deadline, failures: failures)
                watched.update { $0 += done }
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + Self.seconds + 300), .success, "a churn thread hung")
        XCTAssertEqual(failures.value, [])
        let after = ResourceSnapshot.take()
        XCTAssertEqual(after.descriptors, before.descriptors, "descriptors leaked (\(before) → \(after))")
        if after.descriptors != before.descriptors { print(ResourceSnapshot.descriptorTargets()) }
        XCTAssertEqual(after.children, [], "child processes or zombies left")
        XCTAssertEqual(ResourceSnapshot.zygoteWorkers(), [], "zygote workers left")
        // Dispatch keeps idle threads of its pool for a while; a thread leaked per pool or per
        // worker would be hundreds here.
        XCTAssertLessThanOrEqual(after.threads, before.threads + 32, "threads left running")
        print(
            "CHURN | \(Self.seconds) s | \(tasks.value) worker tasks (a worker each; return, exit, SIGKILL, timeout, cancel; output captured; zygote and spawn), \(commands.value) commands, \(watched.value) exit watches (half reaped elsewhere) | fds \(before.descriptors)→\(after.descriptors), children left \(after.children.count), threads \(before.threads)→\(after.threads)"
        )
    }

    /// Batches of tasks on pools with `maxTasks: 1` and captured output, a new pool every few batches.
    static func churnWorkers(_ startMethod: ProcessPool.StartMethod, until deadline: Date, failures: Box<[String]>) throws -> Int {
        var done = 0
        while Date() < deadline {
            var configuration = ProcessPool.Configuration(maxWorkers: 2)
            configuration.maxTasks = 1
            configuration.workerOutput = .capture
            configuration.startMethod = startMethod
            let pool = try ProcessPool(configuration: configuration)
            for _ in 0..<4 where Date() < deadline {
                var batch: [(ChurnJob.Ending, Int, Future<Int>)] = []
                for _ in 0..<6 {
                    let ending = ChurnJob.Ending.allCases.randomElement()!
                    let timeout: Duration? = ending == .timesOut ? .milliseconds(Int.random(in: 5...60)) : nil
                    let size = ChurnJob.payloadSizes.randomElement()!
                    let job = ChurnJob(ending: ending, payload: Data(repeating: 7, count: size))
                    batch.append((ending, size, try pool.schedule(job, timeout: timeout)))
                }
                for (ending, _, future) in batch where ending == .isCancelled {
                    // Cancelled while pending or while running, whichever it is after a short wait.
                    _ = try? future.error(timeout: .milliseconds(Int.random(in: 1...40)))
                    future.cancel()
                }
                for (ending, size, future) in batch {
                    let error = try future.error(timeout: .seconds(120))
                    let expected =
                        switch ending {
                        case .returns: error == nil && (try? future.result()) == size
                        case .exits: (error as? ProcessExpired)?.exitCode == 3
                        case .killsItself: (error as? ProcessExpired)?.signal == SIGKILL
                        case .timesOut: error is TimeoutError
                        case .isCancelled: error is CancellationError
                        }
                    if !expected { failures.update { $0.append("\(startMethod.label) \(ending): \(String(describing: error))") } }
                    done += 1
                }
            }
            pool.close()
            try pool.join(timeout: .seconds(120))
        }
        return done
    }

    /// Short commands: output on both pipes, input, a timeout.
    static func churnCommands(until deadline: Date, failures: Box<[String]>) throws -> Int {
        var done = 0
        while Date() < deadline {
            let echo = try Command("/bin/sh", arguments: ["-c", "echo out; echo err >&2"]).run(timeout: .seconds(60))
            if echo.outputText != "out\n" { failures.update { $0.append("echo: \(echo)") } }
            let cat = try Command("cat").run(input: Array("in".utf8), timeout: .seconds(60))
            if cat.outputText != "in" { failures.update { $0.append("cat: \(cat)") } }
            _ = try Command("true").run(timeout: .seconds(60))
            do {
                _ = try Command("sleep", arguments: ["5"]).run(timeout: .milliseconds(Int.random(in: 1...30)))
                failures.update { $0.append("sleep: no timeout") }
            } catch is TimeoutError {}
            done += 4
        }
        return done
    }

    /// `watchExit` of short children, eight at a time, half of them reaped by this thread
    /// meanwhile (on Linux 6.9 and later their pidfds then hang up).
    static func churnExitWatches(until deadline: Date, failures: Box<[String]>) throws -> Int {
        var done = 0
        while Date() < deadline {
            var batch: [(pid: pid_t, future: Future<TerminationStatus>)] = []
            for _ in 0..<8 {
                var pid: pid_t = 0
                let spawned = withCStrings(["/bin/true"]) { argv in posix_spawn(&pid, "/bin/true", nil, nil, argv, pebble_environ()) }
                guard spawned == 0 else { throw TestFailure(reason: "posix_spawn: \(spawned)") }
                batch.append((pid, try watchExit(of: pid)))
            }
            for (index, (pid, _)) in batch.enumerated() where index % 2 == 1 {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            }
            for (index, (_, future)) in batch.enumerated() {
                // Reaped here first, the watch reports the status from the pidfd or fails; never hangs.
                let error = try future.error(timeout: .seconds(60))
                if index % 2 == 0, error != nil { failures.update { $0.append("watchExit: \(String(describing: error))") } }
                done += 1
            }
        }
        return done
    }
}
