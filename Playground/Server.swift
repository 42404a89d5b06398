// SPDX-License-Identifier: Apache-2.0
// The "server" chapter: a small async request loop against a thread pool and a process pool, with
// a bounded queue (maxPending), per-request deadlines, a live statistics line and a graceful
// shutdown, as a server would use them.

import Foundation
import Pebble

/// One "request": a little CPU work, and every fifth one is slow.
@Sendable func handleRequest(_ id: Int) -> Int {
    Thread.sleep(forTimeInterval: id % 5 == 0 ? 0.25 : 0.01)
    return id
}

/// Prints the pool's statistics every `interval` until the returned task is cancelled.
func liveStatistics(of pool: ThreadPool, every interval: Duration) -> Task<Void, Never> {
    Task {
        let start = ContinuousClock.now
        while !Task.isCancelled {
            print("  [\(ms(ContinuousClock.now - start))] \(pool.statistics)")
            try? await Task.sleep(for: interval)
        }
    }
}

func serverChapter() async throws {
    step("load shedding: 30 requests at once, 2 workers, maxPending 4: schedule throws .queueFull")
    var configuration = ThreadPool.Configuration(maxWorkers: 2)
    configuration.maxPending = 4
    let pool = try ThreadPool(configuration: configuration)
    var accepted: [Future<Int>] = []
    var shed = 0
    for id in 1...30 {
        do {
            accepted.append(try pool.schedule { handleRequest(id) })
        } catch let error as PebbleError where error.code == .queueFull {
            shed += 1 // a server answers 503 here
        }
    }
    for future in accepted { _ = try await future.value }
    print("accepted \(accepted.count), shed \(shed): only what 2 workers and a queue of 4 hold gets in")

    step("an async request loop: run waits for room (FIFO), each request has a 150 ms deadline")
    let reporter = liveStatistics(of: pool, every: .milliseconds(100))
    let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
        for id in 1...20 {
            group.addTask {
                do {
                    _ = try await pool.run(deadline: .now + .milliseconds(150)) { handleRequest(id) }
                    return "ok"
                } catch is TimeoutError {
                    return "deadline" // a server answers 504 here
                }
            }
        }
        return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
    }
    reporter.cancel()
    await reporter.value
    print("outcomes:", outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    print("a slow request holds its thread past its deadline (threads cannot be stopped); queued ones")
    print("past their deadline left the queue without running")

    step("graceful shutdown: close, let the queue drain for up to 2 s, then stop")
    await pool.shutdown(gracePeriod: .seconds(2))
    let final = pool.statistics
    print("final:", final)
    print(
        "completed + failed + timedOut + cancelled =",
        final.completed + final.failed + final.timedOut + final.cancelled, "= every request accepted")

    step("the same loop against a process pool: maxPending 4, 400 ms deadlines, one job hangs")
    var processConfiguration = ProcessPool.Configuration(maxWorkers: 2)
    processConfiguration.maxPending = 4
    processConfiguration.recordsResourceUsage = true // each task's CPU time and peak memory
    let processes = try ProcessPool(configuration: processConfiguration)
    let results = try await withThrowingTaskGroup(of: String.self) { group in
        for n in 1...10 {
            group.addTask {
                do {
                    // Job 3 hangs: its worker is stopped at the deadline and replaced.
                    if n == 3 { _ = try await processes.run(Sleep(seconds: 30), deadline: .now + .milliseconds(400)) }
                    _ = try await processes.run(Square(n: n), deadline: .now + .milliseconds(400))
                    return "ok"
                } catch is TimeoutError {
                    return "deadline"
                }
            }
        }
        return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
    }
    print("outcomes:", results.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    print("process pool:", processes.statistics)
    print("wait (schedule → taken):", processes.statistics.waitTime)
    print("run (taken → outcome):  ", processes.statistics.runTime)
    let hung = try processes.schedule(Sleep(seconds: 30))
    let start = ContinuousClock.now
    await processes.shutdown(gracePeriod: .milliseconds(300))
    let error = await hung.outcome
    print("shutdown took \(ms(ContinuousClock.now - start)); the job still running then:", error)

    step("observing: per-task resource usage, and the statistics as a Prometheus text export")
    var observed = ProcessPool.Configuration(maxWorkers: 2)
    observed.recordsResourceUsage = true
    let observedPool = try ProcessPool(configuration: observed)
    let squares = try (1...20).map { try observedPool.schedule(Square(n: $0)) }
    for future in squares { _ = try await future.value }
    if let usage = squares.last?.resourceUsage { print("the last task's usage:", usage) }
    print(prometheus("squares", observedPool.statistics), terminator: "")
    print("as JSON:", String(decoding: try JSONEncoder().encode(observedPool.statistics.runTime), as: UTF8.self))
    await observedPool.shutdown(gracePeriod: .seconds(1))
}

/// The pool's statistics in Prometheus' text format: gauges, counters, and the latency summaries
/// (the export the "Observing a pool" article shows).
func prometheus(_ name: String, _ stats: ProcessPool.Statistics) -> String {
    var lines: [String] = []
    func metric(_ metric: String, _ type: String, _ value: Int) {
        lines.append("# TYPE pebble_\(metric) \(type)")
        lines.append("pebble_\(metric){pool=\"\(name)\"} \(value)")
    }
    metric("pending", "gauge", stats.pending)
    metric("running", "gauge", stats.running)
    metric("completed_total", "counter", stats.completed)
    metric("failed_total", "counter", stats.failed + stats.crashed + stats.timedOut)
    for (metricName, summary) in [("wait_seconds", stats.waitTime), ("run_seconds", stats.runTime)] {
        lines.append("# TYPE pebble_\(metricName) summary")
        for (quantile, value) in [("0.5", summary.p50), ("0.9", summary.p90), ("0.99", summary.p99)] {
            let seconds = Double(value.components.seconds) + Double(value.components.attoseconds) / 1e18
            lines.append("pebble_\(metricName){pool=\"\(name)\",quantile=\"\(quantile)\"} \(seconds)")
        }
        lines.append("pebble_\(metricName)_count{pool=\"\(name)\"} \(summary.count)")
    }
    return lines.joined(separator: "\n") + "\n"
}

extension Future {
    /// The outcome as text, awaited without throwing.
    var outcome: String {
        get async {
            do { return "value \(try await value)" } catch { return "\(type(of: error))" }
        }
    }
}
