// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import Pebble
@testable import PebbleTestSupport

/// Resource limits, memory recycling and captured worker output (API.md, "Unstable code").
@Suite(.timeLimit(.minutes(3)))
struct UnstableCodeTests {
    static let startMethods: [ProcessPool.StartMethod] = [.zygote, .spawn]

    /// Under a sanitizer (its runtime exports `__tsan_init` or `__asan_init`) workers need terabytes
    /// of address space for shadow memory and start far above 100 MB resident: no address-space
    /// limit or memory threshold of these tests fits them.
    static let underSanitizer: Bool = ["__tsan_init", "__asan_init"].contains { (name: String) in
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) != nil
    }

    private func pool(
        _ startMethod: ProcessPool.StartMethod,
        _ configure: (inout ProcessPool.Configuration) -> Void
    ) throws -> ProcessPool {
        var configuration = ProcessPool.Configuration(maxWorkers: 1)
        configuration.startMethod = startMethod
        configure(&configuration)
        return try ProcessPool(configuration: configuration)
    }

    private func softLimit(_ resource: __rlimit_resource) -> rlim_t {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(resource.rawValue), &limit)
        return limit.rlim_cur
    }

    // MARK: limits

    @Test(arguments: startMethods)
    func limitsAreSetInWorkersOnly(_ startMethod: ProcessPool.StartMethod) throws {
        let ours = (softLimit(RLIMIT_AS), softLimit(RLIMIT_NOFILE), softLimit(RLIMIT_FSIZE))
        let addressSpace = Self.underSanitizer ? nil : 3 << 30
        let pool = try pool(startMethod) { $0.limits = ResourceLimits(addressSpace: addressSpace, openFiles: 200, fileSize: 1 << 20) }
        defer { pool.stop() }
        #expect(try pool.schedule(ReadLimits()).result() == [addressSpace ?? (ours.0 == rlim_t.max ? -1 : Int(ours.0)), 200, 1 << 20])
        #expect((softLimit(RLIMIT_AS), softLimit(RLIMIT_NOFILE), softLimit(RLIMIT_FSIZE)) == ours)
    }

    @Test(.disabled(if: underSanitizer, "under a sanitizer"), arguments: startMethods)
    func addressSpaceLimitStopsAMemoryBomb(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try pool(startMethod) { $0.limits = ResourceLimits(addressSpace: 256 << 20) }
        defer { pool.stop() }
        let first = try pool.schedule(WorkerPid()).result()
        let error = try pool.schedule(AllocateAndTouch(bytes: 1 << 30)).error()
        let expired = try #require(error as? ProcessExpired)
        #expect(expired.pid == first)
        // The next task runs in a fresh worker, under the same limit.
        let next = try pool.schedule(AllocateAndTouch(bytes: 32 << 20)).result()
        #expect(next != first)
        #expect(try pool.schedule(ReadLimits()).result()[0] == 256 << 20)
    }

    @Test(arguments: startMethods)
    func cpuTimeStopsASpinningJob(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try pool(startMethod) { $0.limits = ResourceLimits(cpuTime: .seconds(1)) }
        defer { pool.stop() }
        let started = ContinuousClock.now
        let error = try pool.schedule(Spin(seconds: nil), timeout: .seconds(20)).error()
        let expired = try #require(error as? ProcessExpired, "\(String(describing: error))")
        #expect(expired.signal == SIGXCPU || expired.signal == SIGKILL)
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(try pool.schedule(AddOne(x: 1)).result() == 2)
    }

    @Test(arguments: startMethods)
    func cpuTimeCountsPerTask(_ startMethod: ProcessPool.StartMethod) throws {
        // Five tasks of 0.4 s each: 2 s of CPU in one worker, under a 1 s limit per task.
        let pool = try pool(startMethod) { $0.limits = ResourceLimits(cpuTime: .seconds(1)) }
        defer { pool.stop() }
        let pids = try (0..<5).map { _ in try pool.schedule(Spin(seconds: 0.4)).result() }
        #expect(Set(pids).count == 1)
    }

    // MARK: maxResidentMemory

    // A sanitizer's worker may start above 100 MB resident.
    @Test(.disabled(if: underSanitizer, "under a sanitizer"), arguments: startMethods)
    func residentMemoryAboveTheThresholdRecyclesTheWorker(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try pool(startMethod) { $0.maxResidentMemory = 100_000_000 }
        defer { pool.stop() }
        let first = try pool.schedule(WorkerPid()).result()
        #expect(try pool.schedule(WorkerPid()).result() == first) // below the threshold: kept
        #expect(try pool.schedule(LeakMemory(bytes: 200_000_000, value: 42)).result() == 42)
        #expect(waitForExit(first, seconds: 5))
        let next = try pool.schedule(WorkerPid()).result()
        #expect(next != first)
        #expect(try pool.schedule(WorkerPid()).result() == next)
    }

    @Test(.disabled(if: underSanitizer, "under a sanitizer"), arguments: startMethods)
    func memoryRecyclingIsReportedAsSuchNotAsACrash(_ startMethod: ProcessPool.StartMethod) async throws {
        let pool = try pool(startMethod) { $0.maxResidentMemory = 100_000_000 }
        let stream = pool.events
        let collector = Task<[ProcessPool.Event], Never> {
            var events: [ProcessPool.Event] = []
            for await event in stream { events.append(event) }
            return events
        }
        let leaky = try await pool.run(WorkerPid())
        #expect(try await pool.run(LeakMemory(bytes: 200_000_000, value: 1)) == 1)
        #expect(try await pool.run(WorkerPid()) != leaky)
        pool.close()
        try await pool.join()
        let exits = await collector.value.compactMap { event -> (pid_t, ProcessPool.WorkerExitReason)? in
            if case .workerExited(let pid, _, let reason) = event { (pid, reason) } else { nil }
        }
        #expect(exits.first { $0.0 == leaky }?.1 == .memoryLimit)
        #expect(pool.statistics.crashed == 0 && pool.statistics.completed == 3)
    }

    // MARK: output

    @Test(arguments: startMethods, [CrashKind.cMessage, .fatalError, .indexOutOfRange])
    func crashDiagnosticsCarryTheEndOfStandardError(_ startMethod: ProcessPool.StartMethod, _ kind: CrashKind) throws {
        let pool = try pool(startMethod) { $0.workerOutput = .capture }
        defer { pool.stop() }
        _ = try pool.schedule(WriteToStandardError(text: "from-the-previous-task\n")).result()
        let marker = "marker-\(kind.rawValue)-\(UInt32.random(in: 0...UInt32.max))"
        let error = try pool.schedule(CrashWithMessage(kind: kind, marker: marker)).error()
        let expired = try #require(error as? ProcessExpired, "\(String(describing: error))")
        let diagnostics = try #require(expired.diagnostics)
        let expected = kind == .indexOutOfRange ? "Index out of range" : marker
        #expect(diagnostics.contains(expected), "\(diagnostics)")
        #expect(!diagnostics.contains("from-the-previous-task"))
        #expect(expired.description.contains(expected))
        #expect(try pool.schedule(AddOne(x: 1)).result() == 2)
    }

    @Test(arguments: startMethods)
    func diagnosticsKeepTheLastFourKilobytes(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try pool(startMethod) { $0.workerOutput = .capture }
        defer { pool.stop() }
        let error = try pool.schedule(CrashWithMessage(kind: .cMessage, marker: "the-end", noise: 256 * 1024)).error()
        let diagnostics = try #require((error as? ProcessExpired)?.diagnostics)
        #expect(diagnostics.utf8.count <= 4096 && diagnostics.utf8.count > 3000)
        #expect(diagnostics.contains("libfoo: the-end\n")) // last, except for a sanitizer's own report
    }

    @Test(arguments: startMethods)
    func withoutCaptureThereAreNoDiagnostics(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try pool(startMethod) { $0.workerOutput = .discard }
        defer { pool.stop() }
        let error = try pool.schedule(CrashWithMessage(kind: .cMessage, marker: "unseen")).error()
        let expired = try #require(error as? ProcessExpired)
        #expect(expired.diagnostics == nil)
    }

    /// 50 MB to stdout: the worker is never blocked for good, and the pool's memory stays bounded
    /// (stdout is read into one 64 KiB buffer and dropped: the bound asserted is 32 MiB of growth).
    /// Other suites run in this process at the same time, and some hold 100 MB or more for a
    /// while, so the flood is measured up to three times and the least growth counts: a pool that
    /// kept what it read would grow by the flood's 50 MB every time.
    @Test(arguments: startMethods)
    func floodingStandardOutputNeitherBlocksNorGrowsThePool(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try pool(startMethod) { $0.workerOutput = .capture }
        defer { pool.stop() }
        _ = try pool.schedule(AddOne(x: 0)).result()
        let bytes = 50_000_000
        var growths: [Int] = []
        for _ in 0..<3 where growths.allSatisfy({ $0 >= 32 * 1024 }) {
            let before = ResourceSnapshot.residentKilobytes()
            #expect(try pool.schedule(FloodStandardOutput(bytes: bytes), timeout: .seconds(60)).result() == bytes)
            growths.append(ResourceSnapshot.residentKilobytes() - before)
        }
        #expect(growths.min()! < 32 * 1024, "RSS grew by \(growths) KiB")
    }

    @Test(arguments: startMethods)
    func discardSendsOutputToDevNull(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try pool(startMethod) { $0.workerOutput = .discard }
        defer { pool.stop() }
        #expect(try pool.schedule(OutputTargets(text: "discarded")).result() == ["/dev/null", "/dev/null"])
    }

    @Test(arguments: startMethods)
    func capturePipesAreClosedOnceThePoolJoined(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try pool(startMethod) { $0.workerOutput = .capture }
        let targets = try pool.schedule(OutputTargets(text: "captured")).result()
        #expect(targets.allSatisfy { $0.hasPrefix("pipe:[") })
        #expect(Set(targets).count == 2)
        pool.close()
        try pool.join(timeout: .seconds(10))
        // A pipe's two ends share one inode: neither this process nor the zygote holds either end.
        let ours = ResourceSnapshot.descriptorTargets()
        for target in targets { #expect(!ours.contains { $0.hasSuffix(target) }, "\(target) is still open") }
        if let zygote = Zygote.shared.pid {
            let held = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(zygote)/fd")) ?? []).compactMap {
                try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(zygote)/fd/\($0)")
            }
            for target in targets { #expect(!held.contains(target)) }
        }
    }

    @Test func diagnosticsAppearInTheDescription() {
        let error = ProcessExpired(pid: 7, exitCode: nil, signal: 4, diagnostics: "Fatal error: Index out of range\n")
        #expect(
            error.description
                == "ProcessExpired: worker 7 was killed by signal 4 while running the task; its stderr ended with:\nFatal error: Index out of range"
        )
        #expect(ProcessExpired(pid: 7, exitCode: 3, signal: nil).diagnostics == nil)
        #expect(error != ProcessExpired(pid: 7, exitCode: nil, signal: 4))
    }

    @Test func settingsSurviveTheHello() {
        let settings = WorkerSettings(
            limits: ResourceLimits(addressSpace: 1 << 30, cpuTime: .milliseconds(1500), openFiles: 64),
            maxResidentMemory: 100 << 20, output: .capture)
        var bytes: [UInt8] = []
        settings.encode(into: &bytes)
        #expect(bytes.count == WorkerSettings.encodedSize)
        #expect(WorkerSettings(decoding: bytes[...]) == settings)
        var none: [UInt8] = []
        WorkerSettings().encode(into: &none)
        #expect(WorkerSettings(decoding: none[...]) == WorkerSettings())
    }
}
