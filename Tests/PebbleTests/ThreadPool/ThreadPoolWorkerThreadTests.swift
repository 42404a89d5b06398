// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Dispatch
import Foundation
import Testing
@testable import Pebble
@testable import PebbleTestSupport

/// The thread pool's dedicated worker threads: they park and wake without losing a task, spin
/// only briefly, and are replaced after `maxTasks`.
@Suite(.timeLimit(.minutes(2)))
struct ThreadPoolWorkerThreadTests {
    /// One task at a time, 5,000 times: each round trip goes through a worker that just finished,
    /// is spinning or is parked. A lost wake-up would leave a task queued with every worker
    /// asleep: its `result` would time out (a parked worker wakes by itself only after 10 s).
    @Test func roundTripsNeverLoseAWakeUp() throws {
        let pool = try ThreadPool(maxWorkers: 2)
        for n in 0..<5_000 {
            #expect(try pool.schedule { n * 2 }.result(timeout: .seconds(5)) == n * 2)
        }
        pool.close()
        try pool.join(timeout: .seconds(10))
    }

    /// Bursts of 1 to 64 tasks, each awaited before the next burst (the workers drain the queue,
    /// park, and are woken again), then a pause long enough for a spinning worker to give up.
    @Test func burstsWithPausesNeverLoseAWakeUp() throws {
        let pool = try ThreadPool(maxWorkers: 3)
        for round in 0..<300 {
            let futures = try (0..<(round % 64 + 1)).map { n in try pool.schedule { n + round } }
            for (n, future) in futures.enumerated() {
                #expect(try future.result(timeout: .seconds(5)) == n + round)
            }
            if round % 50 == 0 { usleep(1_000) }
        }
        pool.close()
        try pool.join(timeout: .seconds(10))
    }

    /// Threads blocked on the same future all return once it completes (they sleep on a shared
    /// condition variable, woken by one broadcast).
    @Test func manyThreadsWaitingOnOneFutureAllReturn() throws {
        let pool = try ThreadPool(maxWorkers: 1)
        let gate = Gate()
        let future = try pool.schedule { gate.wait(); return 7 }
        let returned = EventCounter()
        for _ in 0..<8 {
            DispatchQueue.global().async {
                if (try? future.result(timeout: .seconds(20))) == 7 { returned.record() }
            }
        }
        #expect(throws: PebbleError.self, "still gated") { try future.result(timeout: .milliseconds(50)) }
        gate.open()
        #expect(returned.wait(for: 8, seconds: 20))
        pool.close()
        try pool.join()
    }

    /// An idle pool burns no CPU: its workers park (after a spin of at most 20 µs) instead of
    /// polling the queue. Measured on the workers' own threads (the suite runs tests in parallel).
    @Test func anIdlePoolUsesNoCPU() throws {
        let pool = try ThreadPool(maxWorkers: 2)
        let workers = Box<Set<Int32>>([])
        for _ in 0..<200 {
            let thread = try pool.schedule { Self.currentThreadID() }.result()
            workers.update { $0.insert(thread) }
        }
        let before = workers.value.map(Self.cpuNanoseconds)
        usleep(200_000)
        let after = workers.value.map(Self.cpuNanoseconds)
        let used = zip(before, after).map { $1 - $0 }.max() ?? 0
        // A spinning worker would use the whole 200 ms.
        #expect(used < 20_000_000, "an idle worker used \(used) ns of CPU in 200 ms")
        pool.close()
        try pool.join()
    }

    /// The kernel's id of the calling thread (what /proc/self/task lists).
    static func currentThreadID() -> Int32 {
        let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")) ?? ""
        return Int32(link.split(separator: "/").last.map(String.init) ?? "") ?? -1
    }

    /// CPU time a thread of this process used so far (the first field of its schedstat).
    static func cpuNanoseconds(_ thread: Int32) -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/task/\(thread)/schedstat", encoding: .utf8)) ?? ""
        return Int(text.split(separator: " ").first ?? "") ?? 0
    }

    /// A worker retired after `maxTasks` is a new thread: the initializer runs again, on it.
    @Test func aRetiredWorkerIsANewThread() throws {
        let initializedOn = Box<[Int32]>([])
        let pool = try ThreadPool(maxWorkers: 1, maxTasks: 2) { initializedOn.update { $0.append(Self.currentThreadID()) } }
        let threads = try (0..<4).map { _ in try pool.schedule { Self.currentThreadID() } }.map { try $0.result(timeout: .seconds(10)) }
        #expect(threads[0] == threads[1] && threads[2] == threads[3])
        #expect(threads[0] != threads[2])
        #expect(initializedOn.value == [threads[0], threads[2]])
        pool.close()
        try pool.join()
    }

    /// `close()` wakes parked workers, which exit: `join` returns at once instead of after their
    /// idle timeout.
    @Test func closeWakesParkedWorkersAndJoinReturnsPromptly() throws {
        let pool = try ThreadPool(maxWorkers: 4)
        let futures = try (0..<8).map { n in try pool.schedule { n } }
        for future in futures { _ = try future.result() }
        usleep(1_000)   // the workers are parked by now (or about to be: either way they must exit)
        pool.close()
        let start = ContinuousClock.now
        try pool.join(timeout: .seconds(5))
        #expect(ContinuousClock.now - start < .seconds(2))
    }

}
