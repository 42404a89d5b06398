// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import Pebble
@testable import PebbleTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The guarantees of a worker's window of tasks in flight (issue 10, item 1), with real workers:
/// a task sent but not taken can be revoked and then never runs; a death fails only the task the
/// worker took; a long task holds no short one hostage.
@Suite(.timeLimit(.minutes(3)))
struct TaskWindowTests {
    static let startMethods: [ProcessPool.StartMethod] = [.zygote, .spawn]

    /// Tasks of `pool` that no worker took yet (queued or offered on the feed).
    static func waiting(_ pool: ProcessPool) -> Int {
        pool.core.state.withLock { $0.machine.waiting }
    }

    static func release(_ gate: ReadyFifo) {
        var byte: UInt8 = 1
        _ = write(gate.fd, &byte, 1)
    }

    @Test(arguments: startMethods)
    func aCancelledTaskSentButNotTakenNeverRunsAndItsWorkerLivesOn(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let gate = try ReadyFifo()
        let worker = try pool.schedule(WorkerPid()).result()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pebble-window-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for round in 0..<1_000 {
            let blocker = try pool.schedule(GateJob(gate: gate.path))
            let victim = try pool.schedule(TouchFile(path: directory.appendingPathComponent("\(round)").path))
            // The victim waits in the worker's window behind the blocked job: sent, not taken.
            #expect(Self.waiting(pool) >= 1)
            #expect(victim.cancel(), "round \(round)")
            #expect(victim.isCancelled)
            Self.release(gate)
            #expect(try blocker.result(timeout: .seconds(60)) == worker, "the cancel revoked the task: no worker was killed")
        }
        #expect(try pool.schedule(WorkerPid()).result() == worker)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty, "no cancelled task ran")
        pool.close()
        try pool.join(timeout: .seconds(60))
    }

    @Test(arguments: startMethods)
    func aDeathWithAFullWindowFailsOnlyTheTakenTaskAndTheRestRunElsewhere(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let gate = try ReadyFifo()
        _ = try pool.schedule(WorkerPid()).result()
        let crashing = try pool.schedule(GateJob(gate: gate.path, crash: true))
        let behind = try (0..<8).map { try pool.schedule(AddOne(x: $0)) }
        #expect(Self.waiting(pool) >= behind.count, "the eight tasks wait in the dying worker's window")
        Self.release(gate)
        #expect(try crashing.error(timeout: .seconds(60)) is ProcessExpired)
        for (index, future) in behind.enumerated() {
            #expect(try future.result(timeout: .seconds(60)) == index + 1, "task \(index) ran on the next worker")
        }
        pool.close()
        try pool.join(timeout: .seconds(60))
    }

    @Test(arguments: startMethods)
    func aLongTaskDoesNotHoldShortTasksHostage(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        _ = try (0..<4).map { _ in try pool.schedule(WorkerPid()) }.map { try $0.result() } // both workers ready
        let gate = try ReadyFifo()
        let long = try pool.schedule(GateJob(gate: gate.path))
        let short = try (0..<40).map { try pool.schedule(AddOne(x: $0)) }
        // Some of them were sent behind the blocked task; the other worker gets them back.
        for (index, future) in short.enumerated() {
            #expect(try future.result(timeout: .seconds(60)) == index + 1, "short task \(index)")
        }
        #expect(!long.isDone, "every short task finished while the long one still ran")
        Self.release(gate)
        _ = try long.result(timeout: .seconds(60))
        pool.close()
        try pool.join(timeout: .seconds(60))
    }
}
