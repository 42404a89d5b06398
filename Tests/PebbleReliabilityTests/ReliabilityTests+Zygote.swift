// SPDX-License-Identifier: Apache-2.0
import Foundation
import XCTest
import _PebbleShim

@testable import Pebble
@testable import PebbleTestSupport

/// The zygote dies, the server dies, callbacks block: every guarantee still holds.
extension ReliabilityTests {
    // MARK: - 9. Escaped children die with the server

    /// A host worker (spawned directly, so no subreaper of this test catches what escapes) runs a
    /// pool whose job starts a `setsid` daemon and a Foundation `Process` child, both outside the
    /// worker's process group. When the host dies, killed or exiting normally, they die too.
    func testEscapedChildrenDieWithTheServer() throws {
        try withoutLeaks("server dies with escaped children") {
            let pool = try ProcessPool(maxWorkers: 1, startMethod: .spawn)
            let rounds = Self.soak ? 10 : 1
            var gone = 0
            for round in 0..<(2 * rounds) {
                let pids = try pool.schedule(HostEscapeJob()).result(timeout: .seconds(60))
                XCTAssertEqual(pids.count, 4)
                if round % 2 == 0 {
                    XCTAssertEqual(kill(pids[0], SIGKILL), 0)
                } else {
                    _ = try pool.schedule(ExitJob(status: 0)).error(timeout: .seconds(60))
                }
                let deadline = Date().addingTimeInterval(5)
                for pid in pids {
                    let exited = waitForExit(pid, seconds: max(0.01, deadline.timeIntervalSinceNow))
                    XCTAssertTrue(exited, "process \(pid) of \(pids) outlived its server by 5 s (round \(round))")
                    if exited { gone += 1 } else { kill(pid, SIGKILL) }
                }
            }
            pool.close()
            try pool.join(timeout: .seconds(30))
            return
                "\(2 * rounds) host servers (half SIGKILLed, half exiting) whose job started a setsid daemon and a Foundation Process | \(gone) of \(8 * rounds) processes gone within 5 s"
        }
    }

    // MARK: - 10. The zygote is restarted after any number of deaths

    func testZygoteIsRestartedAfterFiveDeathsUnderLoad() throws {
        try withoutLeaks("zygote killed 5 times") {
            let pool = try ProcessPool(maxWorkers: 2, maxTasks: 2)
            XCTAssertEqual(try pool.schedule(AddOne(x: 1)).result(timeout: .seconds(60)), 2)
            let load = try (0..<Self.scaled(400)).map { _ in try pool.schedule(BriefJob(milliseconds: 2)) }
            var killed: [pid_t] = []
            for _ in 0..<5 {
                // Each zygote has forked a worker of this pool before it is killed.
                let zygote = try zygoteThatForked(pool, other: killed)
                XCTAssertEqual(kill(zygote, SIGKILL), 0)
                XCTAssertTrue(waitForExit(zygote, seconds: 10))
                killed.append(zygote)
            }
            var values = 0, expired = 0
            for future in load {
                switch try future.waitForOutcome(until: .now() + 120, timeout: .seconds(120)) {
                case .success: values += 1
                case .failure(let error):
                    XCTAssertTrue(error is ProcessExpired, "\(error)")
                    expired += 1
                }
            }
            pool.close()
            try pool.join(timeout: .seconds(60))
            let fresh = try ProcessPool(maxWorkers: 1)
            let parent = try fresh.schedule(ParentPid()).result(timeout: .seconds(60))
            XCTAssertNotNil(Zygote.shared.pid)
            XCTAssertEqual(parent, Zygote.shared.pid, "a new pool's first worker is forked by a zygote")
            XCTAssertFalse(killed.contains(parent))
            fresh.close()
            try fresh.join(timeout: .seconds(30))
            return
                "\(load.count) tasks, zygote SIGKILLed 5 times | \(values) values + \(expired) ProcessExpired, none hung; a new pool's first worker forked by zygote #6"
        }
    }

    /// The pid of a zygote not in `other` that forked a worker of `pool` (runs jobs until one's
    /// parent is such a zygote; maxTasks makes the pool fork new workers all along).
    private func zygoteThatForked(_ pool: ProcessPool, other: [pid_t]) throws -> pid_t {
        for _ in 0..<200 {
            let parent = try pool.schedule(ParentPid()).result(timeout: .seconds(60))
            if let zygote = Zygote.shared.pid, parent == zygote, !other.contains(zygote) { return zygote }
        }
        throw PebbleError(.spawnFailed, "no new zygote forked a worker")
    }

    func testStraySignalsFromJobsDoNotKillTheZygote() throws {
        try withoutLeaks("jobs signal the zygote") {
            let pool = try ProcessPool(maxWorkers: 1)
            let parent = try pool.schedule(ParentPid()).result(timeout: .seconds(60))
            XCTAssertEqual(parent, Zygote.shared.pid)
            let signals = [SIGHUP, SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGQUIT]
            for signal in signals {
                XCTAssertEqual(try pool.schedule(SignalParent(signal: signal)).result(timeout: .seconds(60)), parent)
            }
            XCTAssertTrue(processIsAlive(parent), "the zygote survived SIGHUP twice and the other stray signals")
            XCTAssertEqual(Zygote.shared.pid, parent)
            // Its workers still start with default dispositions and an empty mask.
            let pool2 = try ProcessPool(maxWorkers: 1, maxTasks: 1)
            let state = try pool2.schedule(SignalState()).result(timeout: .seconds(60))
            XCTAssertEqual(state.blocked, 0, "empty signal mask")
            XCTAssertEqual(state.ignored & ~Self.glibcInternalSignals, 0, "no ignored signals")
            pool.close()
            pool2.close()
            try pool.join(timeout: .seconds(30))
            try pool2.join(timeout: .seconds(30))
            return
                "a job sends SIGHUP ×2, SIGINT, SIGTERM, SIGUSR1/2, SIGPIPE, SIGALRM, SIGQUIT to its parent | zygote alive, workers start with an empty mask and default dispositions"
        }
    }

    /// Signals 32 and 33 (bits 31, 32): glibc's own, left ignored by posix_spawn.
    static let glibcInternalSignals: UInt64 = (1 << 31) | (1 << 32)

    // MARK: - 11. After a zygote death, timeouts still kill the job's children

    func testTimeoutKillsTheJobsChildrenAfterTheZygoteDied() throws {
        try withoutLeaks("timeout after zygote death") {
            let pool = try ProcessPool(maxWorkers: 1)
            XCTAssertEqual(try pool.schedule(AddOne(x: 1)).result(timeout: .seconds(60)), 2)
            let zygote = try XCTUnwrap(Zygote.shared.pid)
            XCTAssertEqual(kill(zygote, SIGKILL), 0)
            XCTAssertTrue(waitForExit(zygote, seconds: 10))
            let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("pebble-gc-\(UUID())").path
            defer { unlink(pidFile) }
            let future = try pool.schedule(SpawnGrandchildAndHang(pidFile: pidFile), timeout: .milliseconds(500))
            XCTAssertTrue(try future.error(timeout: .seconds(60)) is TimeoutError)
            let grandchild = try XCTUnwrap(pid_t(try String(contentsOfFile: pidFile, encoding: .utf8)))
            let gone = waitForExit(grandchild, seconds: 5)
            XCTAssertTrue(gone, "the timed-out job's child \(grandchild) outlived it")
            if !gone { kill(grandchild, SIGKILL) }
            XCTAssertEqual(try pool.schedule(AddOne(x: 1)).result(timeout: .seconds(60)), 2)
            pool.close()
            try pool.join(timeout: .seconds(30))
            return "zygote SIGKILLed, then a job with a child times out | the child gone within 5 s"
        }
    }

    // MARK: - 12. Blocking callbacks stall nothing else

    func testBlockingCallbacksDelayNoOtherCallbackNorTask() throws {
        let pool = try ProcessPool(maxWorkers: 1)
        XCTAssertEqual(try pool.schedule(AddOne(x: 1)).result(timeout: .seconds(60)), 2)
        let blocking = Future<Int>()
        let blocked = EventCounter()
        for _ in 0..<32 {
            blocking.whenComplete { _ in
                usleep(3_000_000)
                blocked.record()
            }
        }
        blocking.complete(.success(1))
        let started = ContinuousClock.now
        let unrelated = Future<Int>()
        let called = EventCounter()
        let callbackDelay = Box(Duration.zero)
        unrelated.whenComplete { _ in
            callbackDelay.value = ContinuousClock.now - started
            called.record()
        }
        unrelated.complete(.success(2))
        XCTAssertTrue(called.wait(seconds: 60))
        let ran = EventCounter()
        let runDelay = Box(Duration.zero)
        let taskStart = ContinuousClock.now
        Task.detached {
            _ = try? await pool.run(AddOne(x: 1))
            runDelay.value = ContinuousClock.now - taskStart
            ran.record()
        }
        XCTAssertTrue(ran.wait(seconds: 60))
        XCTAssertLessThan(callbackDelay.value, .seconds(1), "an unrelated callback waited for blocked ones")
        XCTAssertLessThan(runDelay.value, .seconds(1), "a detached await pool.run waited for blocked callbacks")
        XCTAssertTrue(blocked.wait(for: 32, seconds: 60))
        pool.close()
        try pool.join(timeout: .seconds(30))
        print(
            "RELIABILITY | 32 blocking callbacks | each blocks 3 s | unrelated callback after \(callbackDelay.value.formatted(.units(allowed: [.milliseconds]))), detached await pool.run after \(runDelay.value.formatted(.units(allowed: [.milliseconds])))"
        )
    }
}

/// The worker's parent pid (a zygote's worker: the zygote's).
struct ParentPid: ProcessJob {
    func run() async throws -> Int32 { getppid() }
}

/// Sends `signal` to the worker's parent; returns the parent's pid.
struct SignalParent: ProcessJob {
    let signal: Int32
    func run() async throws -> Int32 {
        let parent = getppid()
        kill(parent, signal)
        return parent
    }
}

/// The worker's blocked and ignored signal masks from /proc/self/status.
struct SignalState: ProcessJob {
    struct Masks: Codable, Sendable {
        let blocked: UInt64
        let ignored: UInt64
    }
    func run() async throws -> Masks {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        func mask(_ key: String) -> UInt64 {
            let line = status.split(separator: "\n").first { $0.hasPrefix(key) } ?? ""
            return UInt64(line.split(separator: "\t").last ?? "", radix: 16) ?? .max
        }
        // The worker's own threads (Dispatch's) block signals; the main thread's mask is what a
        // worker inherited: read it from the main thread's status.
        let main = (try? String(contentsOfFile: "/proc/self/task/\(getpid())/status", encoding: .utf8)) ?? status
        let blockedLine = main.split(separator: "\n").first { $0.hasPrefix("SigBlk:") } ?? ""
        return Masks(blocked: UInt64(blockedLine.split(separator: "\t").last ?? "", radix: 16) ?? .max, ignored: mask("SigIgn:"))
    }
}

/// In a worker: starts a pool whose job starts a `setsid` daemon and a Foundation `Process` child.
/// Returns [host pid, inner worker pid, daemon pid, Process child pid]; the pool is kept alive.
struct HostEscapeJob: ProcessJob {
    func run() async throws -> [Int32] {
        let pool = try ProcessPool(maxWorkers: 1)
        HostState.pool.withLock { $0 = pool }
        return [getpid()] + (try await pool.run(StartEscapees()))
    }
}

/// Starts `sleep 60` in a session of its own (POSIX_SPAWN_SETSID) and another with Foundation's
/// `Process` (a process group of its own). Returns [worker pid, daemon pid, Process child pid].
struct StartEscapees: ProcessJob {
    func run() async throws -> [Int32] {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, 0x80) // POSIX_SPAWN_SETSID
        var daemon: pid_t = 0
        _ = withCArguments(["/bin/sleep", "60"]) { posix_spawn(&daemon, "/bin/sleep", nil, &attributes, $0, nil) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["60"]
        try process.run()
        return [getpid(), daemon, process.processIdentifier]
    }
}
