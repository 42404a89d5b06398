// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing
import _PebbleShim

@testable import Pebble
@testable import PebbleTestSupport

/// Burns `milliseconds` of this thread's CPU time (not wall time: a loaded machine's waits would
/// not count), then returns its pid.
struct BurnCPU: ProcessJob {
    let milliseconds: Int
    func run() async throws -> Int32 {
        func cpu() -> Int64 {
            var time = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
            return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
        }
        let start = cpu()
        var spin: UInt64 = 0
        while cpu() - start < Int64(milliseconds) * 1_000_000 { spin &+= 1 }
        return spin == 0 ? -1 : getpid()
    }
}

/// Touches `megabytes` of fresh memory, frees it, and returns its pid.
struct TouchMemory: ProcessJob {
    let megabytes: Int
    func run() async throws -> Int32 {
        let size = megabytes << 20
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
        for page in stride(from: 0, to: size, by: 4096) { block.storeBytes(of: 1, toByteOffset: page, as: UInt8.self) }
        block.deallocate()
        return getpid()
    }
}

/// Part 3 of the API on the process pool: resource usage per task, latency summaries, room
/// waiters, Codable statistics, elastic pools.
@Suite(.timeLimit(.minutes(3))) struct ProcessPoolObservabilityTests {
    static func usagePool(_ startMethod: ProcessPool.StartMethod, records: Bool = true) throws -> ProcessPool {
        var configuration = ProcessPool.Configuration(maxWorkers: 1)
        configuration.startMethod = startMethod
        configuration.recordsResourceUsage = records
        return try ProcessPool(configuration: configuration)
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func aTaskReportsTheCPUTimeItBurned(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try Self.usagePool(startMethod)
        defer { pool.stop() }
        let future = try pool.schedule(BurnCPU(milliseconds: 300))
        #expect(try future.result(timeout: .seconds(60)) > 0)
        let usage = try #require(future.resourceUsage)
        #expect(usage.userTime + usage.systemTime >= .milliseconds(250), "\(usage)")
        #expect(usage.userTime + usage.systemTime < .seconds(30), "\(usage)")
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func aTaskReportsItsOwnPeakNotTheWorkersEarlierOne(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try Self.usagePool(startMethod)
        defer { pool.stop() }
        let big = try pool.schedule(TouchMemory(megabytes: 256))
        let bigPid = try big.result(timeout: .seconds(60))
        let bigUsage = try #require(big.resourceUsage)
        let bigPeak = try #require(bigUsage.peakResidentMemory)
        #expect(bigPeak >= 240 << 20)
        let small = try pool.schedule(WorkerPid())
        #expect(try small.result(timeout: .seconds(60)) == bigPid, "the same worker ran both")
        let smallUsage = try #require(small.resourceUsage)
        let smallPeak = try #require(smallUsage.peakResidentMemory)
        #expect(smallPeak < 128 << 20)
    }

    /// A spawned worker inherits, through exec, the peak of the process that spawned it (the
    /// pool's) in `getrusage`'s `ru_maxrss`; a forked one does not. Either way a task's peak is
    /// the worker's own.
    @Test(arguments: ProcessPool.StartMethod.all)
    func aTaskReportsItsWorkersPeakNotThePools(_ startMethod: ProcessPool.StartMethod) throws {
        let size = 320 << 20
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
        for page in stride(from: 0, to: size, by: 4096) { block.storeBytes(of: 1, toByteOffset: page, as: UInt8.self) }
        block.deallocate()
        #expect(DeadWorkerUsageTests.ownPeak() >= 300 << 20)
        let pool = try Self.usagePool(startMethod)
        defer { pool.stop() }
        let small = try pool.schedule(AddOne(x: 1))
        #expect(try small.result(timeout: .seconds(60)) == 2)
        let peak = try #require(small.resourceUsage?.peakResidentMemory)
        #expect(peak > 0)
        #expect(peak < 128 << 20)
    }

    /// A large outcome arrives over several reads, its usage report often in an earlier one than
    /// the outcome: every task still gets its own report.
    @Test func tasksWithLargeOutcomesReportTheirUsage() throws {
        let pool = try Self.usagePool(.zygote)
        defer { pool.stop() }
        let payload = Data(repeating: 3, count: 3 << 20)
        let futures = try (0..<6).map { _ in try pool.schedule(EchoData(data: payload)) }
        for future in futures {
            #expect(try future.result(timeout: .seconds(60)).count == payload.count)
            let usage = try #require(future.resourceUsage)
            #expect(usage.peakResidentMemory ?? 0 > 0)
        }
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func usageIsNilWithTheSettingOffAndForTasksThatNeverRan(_ startMethod: ProcessPool.StartMethod) throws {
        let off = try Self.usagePool(startMethod, records: false)
        let future = try off.schedule(AddOne(x: 1))
        #expect(try future.result(timeout: .seconds(60)) == 2)
        #expect(future.resourceUsage == nil)
        off.stop()

        let on = try Self.usagePool(startMethod)
        let sleeper = try on.schedule(SleepJob(seconds: 30))
        let queued = try on.schedule(AddOne(x: 1))
        #expect(queued.resourceUsage == nil, "nil until done")
        #expect(queued.cancel())
        #expect(queued.resourceUsage == nil, "it never ran")
        #expect(sleeper.cancel())
        let after = try on.schedule(AddOne(x: 2))
        #expect(try after.result(timeout: .seconds(60)) == 3)
        #expect(after.resourceUsage != nil)
        on.stop()
        #expect(sleeper.resourceUsage == nil, "stopped while running: no outcome, no usage")
    }

    @Test func threadTasksHaveNoUsage() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let future = try pool.schedule { 1 + 1 }
        #expect(try future.result(timeout: .seconds(60)) == 2)
        #expect(future.resourceUsage == nil)
        pool.close()
        try pool.join()
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func latencySummariesCountEveryTaskAndAMapChunkAsOne(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        let slow = try pool.schedule(SleepJob(seconds: 0.3))
        let behind = try pool.schedule(AddOne(x: 1))
        let map = try pool.map(AddOneFunction(), Array(0..<10), chunkSize: 5)
        _ = try slow.result(timeout: .seconds(60))
        #expect(try behind.result(timeout: .seconds(60)) == 2)
        #expect(try map.result(timeout: .seconds(60)).values().count == 10)
        pool.close()
        try pool.join(timeout: .seconds(60))
        let stats = pool.statistics
        #expect(stats.waitTime.count == 4 && stats.runTime.count == 4)
        // The sleeper ran ≥ 0.3 s; the task behind it waited about as long.
        #expect(stats.runTime.max >= .milliseconds(280), "\(stats.runTime)")
        #expect(stats.waitTime.max >= .milliseconds(250), "\(stats.waitTime)")
        #expect(stats.runTime.max < .seconds(30) && stats.waitTime.max < .seconds(30))
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func waitingForRoomCountsAsyncRunCallersAndStatisticsEncode(_ startMethod: ProcessPool.StartMethod) async throws {
        var configuration = ProcessPool.Configuration(maxWorkers: 1)
        configuration.startMethod = startMethod
        configuration.maxPending = 0
        let pool = try ProcessPool(configuration: configuration)
        let waiter = Task { try await pool.run(AddOne(x: 1)) }
        let deadline = ContinuousClock.now + .seconds(30)
        while pool.statistics.waitingForRoom == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(pool.statistics.waitingForRoom == 1)
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(pool.statistics.waitingForRoom == 0)
        let json = try JSONEncoder().encode(pool.statistics)
        let decoded = try JSONDecoder().decode(ProcessPool.Statistics.self, from: json)
        #expect(decoded == pool.statistics)
        await pool.stop()
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func aTimeoutErrorSaysWhetherTheTaskRan(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        defer { pool.stop() }
        let stopped = try pool.schedule(SleepJob(seconds: 30), timeout: .milliseconds(500))
        let queued = try pool.schedule(AddOne(x: 1), deadline: .now + .milliseconds(200))
        let neverRan = try #require(try queued.error(timeout: .seconds(60)) as? TimeoutError)
        #expect(!neverRan.wasRunning)
        let ran = try #require(try stopped.error(timeout: .seconds(60)) as? TimeoutError)
        #expect(ran.wasRunning)
    }

    @Test func elasticSettingsAreValidated() {
        for minWorkers in [-1, 3] {
            var configuration = ProcessPool.Configuration(maxWorkers: 2)
            configuration.minWorkers = minWorkers
            #expect(throws: PebbleError.self) { _ = try ProcessPool(configuration: configuration) }
        }
        var configuration = ProcessPool.Configuration(maxWorkers: 2)
        configuration.idleTimeout = .seconds(-1)
        #expect(throws: PebbleError.self) { _ = try ProcessPool(configuration: configuration) }
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func idleWorkersAboveMinWorkersEndAndComeBackOnDemand(_ startMethod: ProcessPool.StartMethod) async throws {
        var configuration = ProcessPool.Configuration(maxWorkers: 2)
        configuration.startMethod = startMethod
        configuration.idleTimeout = .milliseconds(300)
        configuration.minWorkers = 1
        let pool = try ProcessPool(configuration: configuration)
        var events = pool.events.makeAsyncIterator()
        // Two tasks at once: two workers.
        let first = try [pool.schedule(SleepJob(seconds: 0.3)), pool.schedule(SleepJob(seconds: 0.3))]
        for future in first { _ = try await future.value }
        #expect(pool.statistics.workersStarted == 2)
        // Idle: one ends, with reason .idle; minWorkers keeps the other.
        var idleExits = 0
        while idleExits == 0, let event = await events.next() {
            if case .workerExited(_, _, let reason) = event {
                #expect(reason == .idle)
                idleExits += 1
            }
        }
        #expect(pool.statistics.workers == 1)
        // Work again: a worker starts for it, and every task runs.
        let second = try [pool.schedule(SleepJob(seconds: 0.3)), pool.schedule(SleepJob(seconds: 0.3))]
        for future in second { _ = try await future.value }
        #expect(pool.statistics.workersStarted == 3)
        #expect(pool.statistics.failed + pool.statistics.crashed + pool.statistics.cancelled == 0)
        pool.close()
        try await pool.join()
    }
}

/// Touches `megabytes` of fresh memory page by page, keeps it, then kills itself with SIGKILL:
/// a memory bomb whose worker dies in the task.
struct TouchMemoryThenDie: ProcessJob {
    let megabytes: Int
    func run() async throws -> Int32 {
        let size = megabytes << 20
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
        for page in stride(from: 0, to: size, by: 4096) { block.storeBytes(of: 1, toByteOffset: page, as: UInt8.self) }
        kill(getpid(), SIGKILL)
        block.deallocate()
        return getpid()
    }
}

/// `ProcessExpired.resourceUsage`: a worker that dies in a task reports its usage from its rusage.
@Suite(.timeLimit(.minutes(3))) struct DeadWorkerUsageTests {
    /// This test process's own peak resident set, in bytes.
    static func ownPeak() -> Int {
        var own = rusage()
        getrusage(RUSAGE_SELF.rawValue, &own)
        return Int(own.ru_maxrss) * 1024
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func aWorkerThatDiesInAMemoryBombReportsItsPeak(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPoolObservabilityTests.usagePool(startMethod)
        defer { pool.stop() }
        // A task first, so the death is after a reported usage (the CPU is then a difference).
        #expect(try pool.schedule(AddOne(x: 1)).result(timeout: .seconds(60)) == 2)
        let ownPeakBefore = Self.ownPeak()
        let future = try pool.schedule(TouchMemoryThenDie(megabytes: 300))
        let expired = try #require(try future.error(timeout: .seconds(60)) as? ProcessExpired)
        let usage = try #require(expired.resourceUsage)
        #expect(usage.userTime + usage.systemTime > .zero, "\(usage)")
        #expect(usage.userTime + usage.systemTime < .seconds(30), "\(usage)")
        if startMethod == .spawn && ownPeakBefore >= 270 << 20 {
            // The pool's own peak, carried over by exec, may hide the worker's: then it is unknown.
            #expect(usage.peakResidentMemory == nil || usage.peakResidentMemory! >= 280 << 20, "\(usage)")
        } else {
            let peak = try #require(usage.peakResidentMemory, "own peak \(ownPeakBefore)")
            #expect(peak >= 280 << 20, "\(usage)")
            #expect(peak < 4 << 30, "\(usage)")
        }
    }

    @Test(arguments: ProcessPool.StartMethod.all)
    func aDeadWorkersUsageIsNilWithTheSettingOff(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPoolObservabilityTests.usagePool(startMethod, records: false)
        defer { pool.stop() }
        let future = try pool.schedule(TouchMemoryThenDie(megabytes: 8))
        let expired = try #require(try future.error(timeout: .seconds(60)) as? ProcessExpired)
        #expect(expired.resourceUsage == nil)
    }

    @Test func aPosixSpawnedWorkersPeakIsKnownOnlyAboveWhatExecCarried() {
        let raw = pebble_rusage(user_usec: 1_500_000, system_usec: 250_000, maxrss_kb: 300_000)
        let forked = UsageReport.deadWorkerLifetime(raw, carriedPeakKiB: nil)
        #expect(
            forked
                == ResourceUsage(
                    userTime: .milliseconds(1500), systemTime: .milliseconds(250),
                    peakResidentMemory: 300_000 * 1024))
        #expect(UsageReport.deadWorkerLifetime(raw, carriedPeakKiB: 100_000).peakResidentMemory == 300_000 * 1024)
        #expect(UsageReport.deadWorkerLifetime(raw, carriedPeakKiB: 300_000).peakResidentMemory == nil)
        #expect(UsageReport.deadWorkerLifetime(raw, carriedPeakKiB: .max).peakResidentMemory == nil)
    }
}
