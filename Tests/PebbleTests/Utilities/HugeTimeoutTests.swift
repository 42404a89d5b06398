// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Testing

@testable import Pebble
@testable import PebbleTestSupport

/// "No limit" sentinels — `.seconds(Int64.max)`, 200 years, 9,999,999,999 s — mean no limit: every
/// API that takes a timeout waits (and a job runs) instead of timing out at once.
@Suite(.timeLimit(.minutes(2)))
struct HugeTimeoutTests {
    static let forever = Duration.seconds(Int64.max)

    @Test(arguments: [Duration.seconds(Int64.max), .seconds(200 * 365 * 86_400), .seconds(9_999_999_999)])
    func hugeDurationsSaturateToDistantFuture(_ duration: Duration) {
        #expect(duration.deadlineFromNow == .distantFuture)
        #expect(deadline(after: duration) == .distantFuture)
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func processPoolAPIsWaitInsteadOfTimingOut(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let future = try pool.schedule(AddOneAfter(x: 1, seconds: 0.2), timeout: Self.forever)
        #expect(try future.result(timeout: Self.forever) == 2, "the job ran and returned")
        #expect(try pool.schedule(AddOneAfter(x: 1, seconds: 0.1)).error(timeout: Self.forever) == nil)
        let squares = try pool.map(SleepThenAddOne(), [1, 2, 3], timeout: Self.forever)
        #expect(try squares.result(timeout: Self.forever).values() == [2, 3, 4])
        pool.close()
        try pool.join(timeout: Self.forever)
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func hugeGracePeriodSendsNoEarlySIGKILL(_ startMethod: ProcessPool.StartMethod) throws {
        let fifo = try ReadyFifo()
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("pebble-grace-\(UUID())").path
        defer { unlink(marker) }
        let pool = try ProcessPool(maxWorkers: 1, terminationGracePeriod: Self.forever, startMethod: startMethod)
        let future = try pool.schedule(OutliveSIGTERM(readyFifo: fifo.path, marker: marker, milliseconds: 300))
        #expect(fifo.waitForReady(1, seconds: 60))
        #expect(future.cancel())
        pool.close()
        try pool.join(timeout: .seconds(60))
        #expect(FileManager.default.fileExists(atPath: marker), "the worker ignoring SIGTERM was not SIGKILLed at once")
    }

    @Test func threadPoolAPIsWaitInsteadOfTimingOut() throws {
        let pool = try ThreadPool(maxWorkers: 2)
        let future = try pool.schedule {
            usleep(100_000)
            return 1
        }
        #expect(try future.result(timeout: Self.forever) == 1)
        #expect(
            try pool.schedule {
                usleep(50_000)
                return 1
            }.error(timeout: Self.forever) == nil)
        let mapped = try pool.map([1, 2, 3], timeout: Self.forever) {
            usleep(50_000)
            return $0 * 2
        }
        #expect(try mapped.result(timeout: Self.forever).values() == [2, 4, 6])
        pool.close()
        try pool.join(timeout: Self.forever)
    }

    @Test func utilitiesWaitInsteadOfTimingOut() throws {
        let queue = BlockingQueue<Int>()
        let thread = JoinableThread(name: "huge-timeout") {
            usleep(100_000)
            queue.put(7)
        }
        thread.start()
        #expect(waitForQueues([queue], timeout: Self.forever).count == 1)
        #expect(try queue.get(timeout: Self.forever) == 7)
        #expect(waitForThreads([thread], timeout: Self.forever).count == 1)
        #expect(thread.join(timeout: Self.forever))
        let late = BlockingQueue<Int>()
        let putter = JoinableThread(name: "huge-timeout-2") {
            usleep(100_000)
            late.put(8)
        }
        putter.start()
        #expect(try late.get(timeout: Self.forever) == 8)
        #expect(putter.join(timeout: Self.forever))
        let second = JoinableThread(name: "huge-timeout-3") { usleep(100_000) }
        second.start()
        #expect(second.join(timeout: Self.forever))
        let process = try Concurrent.process(AddOneAfter(x: 1, seconds: 0.1), timeout: Self.forever)
        #expect(try process.result(timeout: Self.forever) == 2)
    }
}

/// Sleeps 50 ms, then adds one.
struct SleepThenAddOne: ProcessFunction {
    func callAsFunction(_ x: Int) async throws -> Int {
        usleep(50_000)
        return x + 1
    }
}

/// Ignores SIGTERM, says it is ready, then after `milliseconds` writes `marker` and exits 0.
struct OutliveSIGTERM: ProcessJob {
    let readyFifo: String
    let marker: String
    let milliseconds: Int
    func run() async throws -> Int {
        signal(SIGTERM, SIG_IGN)
        let fd = open(readyFifo, O_WRONLY)
        var byte: UInt8 = 1
        _ = write(fd, &byte, 1)
        close(fd)
        usleep(UInt32(milliseconds * 1000))
        _ = FileManager.default.createFile(atPath: marker, contents: Data())
        exit(0)
    }
}
