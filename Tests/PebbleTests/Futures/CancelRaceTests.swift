// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import Pebble
@testable import PebbleTestSupport

/// Nanoseconds on CLOCK_MONOTONIC, comparable between this process and its workers.
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Appends "id start-time" to a marker file as its first act, works `workNanoseconds`, then
/// returns `id`.
struct MarkStart: ProcessJob {
    let id: Int
    let path: String
    var workNanoseconds: UInt64 = 0
    func run() async throws -> Int {
        let start = monotonicNanoseconds()
        let line = "\(id) \(start)\n"
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        _ = line.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        while monotonicNanoseconds() - start < workNanoseconds {}
        return id
    }
}

/// Cancels the task at the head of the queue while tasks flow, and checks through the markers the
/// tasks leave that a task whose `cancel()` returned `true` before it started never ran, and that
/// every such future failed with `CancellationError`.
@Suite(.timeLimit(.minutes(10)))
struct CancelRaceTests {
    static let soak = ProcessInfo.processInfo.environment["PEBBLE_SOAK"] == "1"
    static let taskCount = Int(ProcessInfo.processInfo.environment["PEBBLE_CANCEL_TASKS"] ?? "") ?? (soak ? 1_000_000 : 10_000)

    static let workNanoseconds: UInt64 = ProcessInfo.processInfo.environment["PEBBLE_LIGHT"] == "1" ? 200_000 : 20_000

    /// What a round found: cancels that returned true, and the two kinds of broken promise.
    struct Findings {
        var cancelled = 0
        var ranAfterCancel: [Int] = []
        var notCancellationError: [Int] = []

        /// Expects some cancels, and every one of them kept: the task never started after it, and
        /// its future failed with `CancellationError`.
        func expectEveryCancelKept(sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(cancelled > 0, sourceLocation: sourceLocation)
            #expect(
                ranAfterCancel.isEmpty,
                "\(ranAfterCancel.count) of \(cancelled) cancelled tasks started after cancel() returned true",
                sourceLocation: sourceLocation)
            #expect(
                notCancellationError.isEmpty,
                "\(notCancellationError.count) of \(cancelled) futures whose cancel() returned true did not fail with CancellationError",
                sourceLocation: sourceLocation)
        }
    }

    /// Cancels every second task just as the one two places before it completes: the moment the
    /// pool hands the next task to the freed worker.
    static func chaseTheHead<V>(_ futures: [Future<V>]) -> [Int: UInt64] {
        var cancelledAt: [Int: UInt64] = [:]
        for index in stride(from: 2, to: futures.count, by: 2) {
            _ = try? futures[index - 2].result()
            if futures[index].cancel() { cancelledAt[index] = monotonicNanoseconds() }
        }
        return cancelledAt
    }

    /// `runningCanBeCancelled`: a process task cancelled while it runs is stopped, so it may have
    /// started before `cancel()` returned; a thread task cannot be stopped, so `true` means it never starts.
    static func findings<V>(
        _ futures: [Future<V>], cancelledAt: [Int: UInt64], startedAt: [Int: UInt64],
        runningCanBeCancelled: Bool
    ) -> Findings {
        var findings = Findings(cancelled: cancelledAt.count)
        for (index, cancelTime) in cancelledAt {
            if let start = startedAt[index], start > cancelTime || !runningCanBeCancelled { findings.ranAfterCancel.append(index) }
            if !(futures[index].completedOutcome?.failure is CancellationError) { findings.notCancellationError.append(index) }
        }
        return findings
    }

    @Test(arguments: [ProcessPool.StartMethod.zygote, .spawn])
    func processPoolCancelIsExact(startMethod: ProcessPool.StartMethod) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pebble-cancel-\(UUID().uuidString)").path
        defer { unlink(path) }
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        // Each task works ~100 µs: idle workers take the next task from the feed at once, so with
        // instant tasks they run ahead of the chasing thread and no cancel lands before a start.
        let futures = try (0..<Self.taskCount).map {
            try pool.schedule(MarkStart(id: $0, path: path, workNanoseconds: 5 * Self.workNanoseconds))
        }
        let cancelledAt = Self.chaseTheHead(futures)
        pool.close()
        try pool.join()
        var startedAt: [Int: UInt64] = [:]
        for line in (try String(contentsOfFile: path, encoding: .utf8)).split(separator: "\n") {
            let fields = line.split(separator: " ")
            startedAt[Int(fields[0])!] = UInt64(fields[1])!
        }
        Self.findings(futures, cancelledAt: cancelledAt, startedAt: startedAt, runningCanBeCancelled: true).expectEveryCancelKept()
    }

    @Test func threadPoolCancelIsExact() throws {
        let startedAt = Box<[Int: UInt64]>([:])
        let pool = try ThreadPool(maxWorkers: 2)
        let futures = try (0..<Self.taskCount).map { index in
            try pool.schedule {
                let now = monotonicNanoseconds()
                startedAt.update { $0[index] = now }
                // ~20 µs of work (200 µs under a sanitizer, where the chasing thread is slower
                // still), so that tasks flow while the test chases them but do not outrun it.
                while monotonicNanoseconds() - now < Self.workNanoseconds {}
                return index
            }
        }
        let cancelledAt = Self.chaseTheHead(futures)
        pool.close()
        try pool.join()
        Self.findings(futures, cancelledAt: cancelledAt, startedAt: startedAt.value, runningCanBeCancelled: false)
            .expectEveryCancelKept()
    }
}
