// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Pebble

struct Metric: Sendable {
    let name: String
    let run: @Sendable () throws -> [Measurement]

    static let all: [Metric] = [
        Metric(name: "M1", run: startToFirstResult),
        Metric(name: "M2-process", run: processRoundTrip),
        Metric(name: "M2-thread", run: threadRoundTrip),
        Metric(name: "M2-async", run: asyncRoundTrip),
        Metric(name: "M3", run: { try processThroughput(metric: "M3", workers: 2) }),
        Metric(name: "M3-w4", run: { try processThroughput(metric: "M3-w4", workers: 4) }),
        Metric(name: "M3-usage", run: usageThroughput),
        Metric(name: "M9", run: threadThroughput),
        Metric(name: "M4", run: { try mapThroughput(metric: "M4", workers: 2) }),
        Metric(name: "M4-w4", run: { try mapThroughput(metric: "M4-w4", workers: 4) }),
        Metric(name: "M5", run: timeoutDelays),
        Metric(name: "M6", run: crashDelays),
        Metric(name: "M7", run: cancelRecovery),
        Metric(name: "M8", run: echoThroughput),
        Metric(name: "X1", run: oneShotProcess),
        Metric(name: "X2", run: oneShotThread),
        Metric(name: "C", run: codecRoundTrips),
        Metric(name: "X3", run: commandLatency)
    ]
}

let pebble = "swift-pebble"

/// M1: pool created → first result, with the spawn; and the RSS of an idle worker.
func startToFirstResult() throws -> [Measurement] {
    var samples: [Double] = []
    var rss: [Double] = []
    for _ in 0..<scaled(30, quick: 3) {
        var pid: Int32 = 0
        let pool = try ProcessPool(maxWorkers: 2)
        samples.append(try time { pid = try pool.schedule(PidJob()).result() } * 1e3)
        if let kilobytes = residentKilobytes(pid) { rss.append(kilobytes) }
        pool.stop()
    }
    return [
        Measurement(metric: "M1", impl: pebble, workers: 2, unit: "ms", samples: samples),
        Measurement(metric: "M1-rss", impl: pebble, workers: 2, unit: "kB", samples: rss)
    ]
}

func residentKilobytes(_ pid: Int32) -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return nil }
    return line.split(separator: " ").dropFirst().first.flatMap { Double($0) }
}

/// M2: one task at a time, µs per round trip.
func processRoundTrip() throws -> [Measurement] {
    let pool = try ProcessPool(maxWorkers: 2)
    defer { pool.stop() }
    for x in 0..<200 { _ = try pool.schedule(AddOneJob(x: x)).result() }
    let samples = try (0..<scaled(2000, quick: 100)).map { x in
        try time { _ = try pool.schedule(AddOneJob(x: x)).result() } * 1e6
    }
    return [Measurement(metric: "M2-process", impl: pebble, workers: 2, unit: "us", samples: samples)]
}

/// M2-thread: a tiny closure through a 2-worker thread pool, `result()` blocking; beside Swift's
/// own: a serial `DispatchQueue` and a `DispatchSemaphore` (impl "dispatch").
func threadRoundTrip() throws -> [Measurement] {
    let pool = try ThreadPool(maxWorkers: 2)
    defer { pool.stop() }
    for x in 0..<200 { _ = try pool.schedule { x + 1 }.result() }
    let samples = try (0..<scaled(2000, quick: 100)).map { x in
        try time { _ = try pool.schedule { x + 1 }.result() } * 1e6
    }
    let queue = DispatchQueue(label: "baseline")
    let baseline = (0..<scaled(2000, quick: 100)).map { x in
        time {
            let done = DispatchSemaphore(value: 0)
            queue.async {
                _ = x + 1
                done.signal()
            }
            done.wait()
        } * 1e6
    }
    return [
        Measurement(metric: "M2-thread", impl: pebble, workers: 2, unit: "us", samples: samples),
        Measurement(metric: "M2-thread", impl: "dispatch", workers: 1, unit: "us", samples: baseline)
    ]
}

/// M2-async: `try await pool.run { x + 1 }` from a Task, µs per round trip; beside Swift's own:
/// `await Task.detached { x + 1 }.value` (impl "Task.detached", whose child runs on the awaiting
/// thread) and a hop to a serial `DispatchQueue` that resumes a continuation (impl "dispatch":
/// another thread and back, as with the pool), interleaved in blocks of 100.
func asyncRoundTrip() throws -> [Measurement] {
    let pool = try ThreadPool(maxWorkers: 2)
    defer { pool.stop() }
    let queue = DispatchQueue(label: "pebble-bench.async-hop")
    let rounds = scaled(20, quick: 2)
    let samples = awaitBlocking {
        var pooled: [Double] = []
        var detached: [Double] = []
        var hopped: [Double] = []
        for x in 0..<200 { _ = try? await pool.run { x + 1 } }
        for _ in 0..<rounds {
            for x in 0..<100 {
                let start = now()
                _ = try? await pool.run { x + 1 }
                pooled.append((now() - start) * 1e6)
            }
            for x in 0..<100 {
                let start = now()
                _ = await Task.detached { x + 1 }.value
                detached.append((now() - start) * 1e6)
            }
            // Swift's own hop to another thread and back: a serial queue runs the closure and
            // resumes the awaiting Task, as a pool worker does.
            for x in 0..<100 {
                let start = now()
                _ = await withCheckedContinuation { continuation in queue.async { continuation.resume(returning: x + 1) } }
                hopped.append((now() - start) * 1e6)
            }
        }
        return [pooled, detached, hopped]
    }
    return [
        Measurement(metric: "M2-async", impl: pebble, workers: 2, unit: "us", samples: samples[0]),
        Measurement(metric: "M2-async", impl: "Task.detached", workers: 1, unit: "us", samples: samples[1]),
        Measurement(metric: "M2-async", impl: "dispatch", workers: 1, unit: "us", samples: samples[2])
    ]
}

/// Where `awaitBlocking` passes its result. `@unchecked Sendable`: written once by the Task
/// before its semaphore is signalled, read after the wait.
final class ResultSlot<R>: @unchecked Sendable {
    var value: R?
}

/// Runs `body` in a Task and blocks the calling (non-cooperative) thread until it returns.
func awaitBlocking<R: Sendable>(_ body: @escaping @Sendable () async -> R) -> R {
    let slot = ResultSlot<R>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        slot.value = await body()
        done.signal()
    }
    done.wait()
    return slot.value!
}

/// M3: 20,000 process tasks scheduled at once, then all awaited (M3-w4: on 4 workers).
func processThroughput(metric: String, workers: Int) throws -> [Measurement] {
    let pool = try warmBurstPool(workers: workers, recordsResourceUsage: false)
    defer { pool.stop() }
    let samples = try (0..<scaled(5, quick: 2)).map { _ in try burst(on: pool) }
    return [Measurement(metric: metric, impl: pebble, workers: workers, unit: "tasks/s", samples: samples)]
}

/// M3-usage: M3's burst with `recordsResourceUsage` on, each task measured in its worker. Its
/// rounds alternate with rounds of the same burst on a pool with the setting off (both pools
/// started first), so that "M3-usage/M3", each round's throughput over that of the round with the
/// setting off just before it, compares runs of the same seconds on this noisy machine.
func usageThroughput() throws -> [Measurement] {
    let plain = try warmBurstPool(workers: 2, recordsResourceUsage: false)
    defer { plain.stop() }
    let measured = try warmBurstPool(workers: 2, recordsResourceUsage: true)
    defer { measured.stop() }
    var rates: [Double] = []
    var ratios: [Double] = []
    for _ in 0..<scaled(7, quick: 2) {
        let off = try burst(on: plain)
        let on = try burst(on: measured)
        rates.append(on)
        ratios.append(on / off)
    }
    return [
        Measurement(metric: "M3-usage", impl: pebble, workers: 2, unit: "tasks/s", samples: rates),
        Measurement(metric: "M3-usage/M3", impl: pebble, workers: 2, unit: "ratio", samples: ratios)
    ]
}

/// A process pool whose workers have started and run a task each.
private func warmBurstPool(workers: Int, recordsResourceUsage: Bool) throws -> ProcessPool {
    var configuration = ProcessPool.Configuration(maxWorkers: workers)
    configuration.recordsResourceUsage = recordsResourceUsage
    let pool = try ProcessPool(configuration: configuration)
    _ = try pool.map(AddOneFunction(), 0..<100).result().values()
    return pool
}

/// Tasks per second of one burst of 20,000 tasks on `pool`.
private func burst(on pool: ProcessPool) throws -> Double {
    let count = scaled(20_000, quick: 2_000)
    return Double(count)
        / (try time {
            let futures = try (0..<count).map { try pool.schedule(AddOneJob(x: $0)) }
            for future in futures { _ = try future.result() }
        })
}

/// M9: 100,000 closures on a 2-worker thread pool, each awaited with `result()`; beside Swift's
/// own in the same rounds: a concurrent `DispatchQueue` + `DispatchGroup` (impl "dispatch") and a
/// `TaskGroup` of child tasks (impl "TaskGroup"), each closure storing its result.
func threadThroughput() throws -> [Measurement] {
    let count = scaled(100_000, quick: 10_000)
    var pooled: [Double] = []
    var dispatch: [Double] = []
    var taskGroup: [Double] = []
    for _ in 0..<scaled(5, quick: 2) {
        let pool = try ThreadPool(maxWorkers: 2)
        pooled.append(
            Double(count)
                / (try time {
                    let futures = try (0..<count).map { x in try pool.schedule { x + 1 } }
                    for future in futures { _ = try future.result() }
                }))
        pool.stop()
        dispatch.append(
            Double(count)
                / time {
                    let queue = DispatchQueue(label: "baseline", attributes: .concurrent)
                    let group = DispatchGroup()
                    let results = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
                    defer { results.deallocate() }
                    // Each block writes only its own index, and group.wait() orders every write
                    // before the buffer is freed: no two accesses race.
                    nonisolated(unsafe) let output = results
                    for x in 0..<count {
                        queue.async(group: group) { output[x] = x + 1 }
                    }
                    group.wait()
                })
        taskGroup.append(
            Double(count)
                / time {
                    _ = awaitBlocking {
                        await withTaskGroup(of: Int.self) { group in
                            for x in 0..<count { group.addTask { x + 1 } }
                            var sum = 0
                            for await value in group { sum += value }
                            return sum
                        }
                    }
                })
    }
    return [
        Measurement(metric: "M9", impl: pebble, workers: 2, unit: "tasks/s", samples: pooled),
        Measurement(metric: "M9", impl: "dispatch", workers: 2, unit: "tasks/s", samples: dispatch),
        Measurement(metric: "M9", impl: "TaskGroup", workers: 2, unit: "tasks/s", samples: taskGroup)
    ]
}

/// M4: map over 200,000 ints, 1,000 per chunk (M4-w4: on 4 workers).
func mapThroughput(metric: String, workers: Int) throws -> [Measurement] {
    let pool = try ProcessPool(maxWorkers: workers)
    defer { pool.stop() }
    _ = try pool.map(AddOneFunction(), 0..<(1000 * workers), chunkSize: 1000).result().values()
    let count = scaled(200_000, quick: 20_000)
    let samples = try (0..<scaled(5, quick: 2)).map { _ in
        Double(count) / (try time { _ = try pool.map(AddOneFunction(), 0..<count, chunkSize: 1000).result().values() })
    }
    return [Measurement(metric: metric, impl: pebble, workers: workers, unit: "items/s", samples: samples)]
}

/// M5: a 10 s job with a 0.1 s timeout: (a) how late the TimeoutError is, (b) then → next result.
func timeoutDelays() throws -> [Measurement] {
    let (lateness, recovery) = try failureAndRecovery(SleepJob(seconds: 10), timeout: .milliseconds(100))
    return [
        Measurement(metric: "M5a", impl: pebble, workers: 1, unit: "ms", samples: lateness),
        Measurement(metric: "M5b", impl: pebble, workers: 1, unit: "ms", samples: recovery)
    ]
}

/// M6: a job calling exit(1): (a) schedule → ProcessExpired, (b) then → next result.
func crashDelays() throws -> [Measurement] {
    let (detection, recovery) = try failureAndRecovery(ExitJob(), timeout: nil)
    return [
        Measurement(metric: "M6a", impl: pebble, workers: 1, unit: "ms", samples: detection),
        Measurement(metric: "M6b", impl: pebble, workers: 1, unit: "ms", samples: recovery)
    ]
}

/// On a 1-worker pool, a job that fails (past `timeout`, or by dying): ms from schedule to the
/// failure (less the timeout), and from the failure to the next result, on the replacement worker.
func failureAndRecovery<J: ProcessJob>(_ job: J, timeout: Duration?) throws -> (detection: [Double], recovery: [Double]) {
    let pool = try ProcessPool(maxWorkers: 1)
    defer { pool.stop() }
    _ = try pool.schedule(AddOneJob(x: 0)).result()
    let allowed = timeout.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0
    var detection: [Double] = []
    var recovery: [Double] = []
    for _ in 0..<scaled(30, quick: 3) {
        let start = now()
        _ = try pool.schedule(job, timeout: timeout).error()
        let failed = now()
        _ = try pool.schedule(AddOneJob(x: 0)).result()
        detection.append((failed - start - allowed) * 1e3)
        recovery.append((now() - failed) * 1e3)
    }
    return (detection, recovery)
}

/// M7: cancel() of a running job → next result.
func cancelRecovery() throws -> [Measurement] {
    let pool = try ProcessPool(maxWorkers: 1)
    defer { pool.stop() }
    _ = try pool.schedule(AddOneJob(x: 0)).result()
    let samples = try (0..<scaled(30, quick: 3)).map { _ in
        let running = try pool.schedule(SleepJob(seconds: 10))
        usleep(20_000)
        return try time {
            running.cancel()
            _ = try pool.schedule(AddOneJob(x: 0)).result()
        } * 1e3
    }
    return [Measurement(metric: "M7", impl: pebble, workers: 1, unit: "ms", samples: samples)]
}

/// M8: a 10 MB `Data` echoed: MB/s for the 20 MB moved.
func echoThroughput() throws -> [Measurement] {
    let pool = try ProcessPool(maxWorkers: 2)
    defer { pool.stop() }
    let payload = Data((0..<10_000_000).map { UInt8(truncatingIfNeeded: $0) })
    _ = try pool.schedule(EchoData(data: payload)).result()
    let samples = try (0..<scaled(10, quick: 2)).map { _ in
        20.0 / (try time { _ = try pool.schedule(EchoData(data: payload)).result() })
    }
    return [Measurement(metric: "M8", impl: pebble, workers: 2, unit: "MB/s", samples: samples)]
}

/// X1: Concurrent.process call → result.
func oneShotProcess() throws -> [Measurement] {
    let samples = try (0..<scaled(30, quick: 3)).map { _ in
        try time { _ = try Concurrent.process(AddOneJob(x: 1)).result() } * 1e3
    }
    return [Measurement(metric: "X1", impl: pebble, workers: 1, unit: "ms", samples: samples)]
}

/// X2: Concurrent.thread call → result.
func oneShotThread() throws -> [Measurement] {
    let samples = try (0..<scaled(500, quick: 50)).map { x in
        try time { _ = try Concurrent.thread { x + 1 }.result() } * 1e6
    }
    return [Measurement(metric: "X2", impl: pebble, workers: 1, unit: "us", samples: samples)]
}
