// SPDX-License-Identifier: Apache-2.0
import Foundation
import Synchronization

@testable import Pebble
@testable import PebbleTestSupport

// Jobs for the reliability suite.

/// Returns its pid after `milliseconds` of sleep.
struct BriefJob: ProcessJob {
    let milliseconds: Int
    func run() async throws -> Int32 {
        usleep(UInt32(milliseconds * 1000))
        return getpid()
    }
}

/// In the worker: starts a pool of its own with two workers, each of which starts a grandchild
/// (`sleep 60`) in its process group. Returns [its own pid, worker, grandchild, worker, grandchild].
/// The pool is kept in a global so it lives on after the job returns.
struct HostPoolJob: ProcessJob {
    func run() async throws -> [Int32] {
        let pool = try ProcessPool(maxWorkers: 2)
        HostState.pool.withLock { $0 = pool }
        async let first = pool.run(StartGrandchild())
        async let second = pool.run(StartGrandchild())
        return [getpid()] + (try await first) + (try await second)
    }
}

enum HostState {
    static let pool = StateLock<ProcessPool?>(nil)
}

/// Starts `sleep 60` in the worker's process group; returns [worker pid, grandchild pid].
struct StartGrandchild: ProcessJob {
    func run() async throws -> [Int32] {
        var pid: pid_t = 0
        _ = withCArguments(["/bin/sleep", "60"]) { posix_spawn(&pid, "/bin/sleep", nil, nil, $0, nil) }
        return [getpid(), pid]
    }
}

/// Adds 1 to the number in `path`, `times` times, each under the ProcessLock `lockName`.
struct LockedIncrement: ProcessJob {
    let lockName: String
    let path: String
    let times: Int
    func run() async throws -> Int {
        let lock = try ProcessLock(name: lockName)
        for _ in 0..<times {
            try synchronized(lock) {
                let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "0"
                let value = (Int(text) ?? 0) + 1
                try "\(value)".write(toFile: path, atomically: false, encoding: .utf8)
            }
        }
        return times
    }
}

/// Takes the ProcessLock `lockName` and dies holding it.
struct CrashHoldingLock: ProcessJob {
    let lockName: String
    func run() async throws -> Int {
        let lock = try ProcessLock(name: lockName)
        lock.lock()
        exit(1)
    }
}

/// Announces a frame of `bytes` bytes on the worker's channel, sends a little of it, then exits.
struct AnnounceAndExit: ProcessJob {
    let bytes: UInt64
    func run() async throws -> Int {
        var header: [UInt8] = []
        withUnsafeBytes(of: bytes.littleEndian) { header.append(contentsOf: $0) }
        header.append(0x56)
        header += [UInt8](repeating: 0x30, count: 4096)
        _ = write(3, header, header.count)
        exit(0)
    }
}
