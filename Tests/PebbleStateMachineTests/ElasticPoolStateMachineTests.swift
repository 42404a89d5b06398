// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import Pebble

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Elastic process pools (`idleTimeout`, `minWorkers`) and the latency summaries, decided by the
/// state machine on a manual clock.
@Suite struct ElasticPoolStateMachineTests {
    /// An elastic harness whose workers `pids` ran one task each, so that all of them started.
    static func elastic(_ pids: [pid_t], maxWorkers: Int? = nil, minWorkers: Int = 0) throws -> PoolHarness {
        var pool = PoolHarness(maxWorkers: maxWorkers ?? pids.count, idleTimeout: .seconds(10), minWorkers: minWorkers)
        let tasks = pids.indices.map { FakeTask(100 + $0) }
        #expect(try pool.apply { try $0.enqueue(tasks) }.filter { $0 == .spawn(after: nil) }.count == pids.count)
        for pid in pids {
            #expect(pool.machine.workerSpawned(pid) != nil)
            pool.apply { $0.workerReady(pid) }
        }
        for pid in pids { #expect(pool.take(pid) != nil) }
        for pid in pids { pool.finish(pid) }
        return pool
    }

    @Test func anElasticPoolStartsWorkersForTheWorkThereIsUpToMaxWorkers() throws {
        var pool = PoolHarness(maxWorkers: 4, idleTimeout: .seconds(10), minWorkers: 1)
        // Before any work: minWorkers.
        #expect(try pool.apply { try $0.enqueue([]) } == [.spawn(after: nil)])
        #expect(pool.machine.workerSpawned(10) != nil)
        pool.apply { $0.workerReady(10) }
        // Two tasks for one idle worker: one more worker.
        #expect(try pool.apply { try $0.enqueue([FakeTask(0), FakeTask(1)]) }.filter { $0 == .spawn(after: nil) }.count == 1)
        // Ten more: up to maxWorkers.
        let more = (2..<12).map { FakeTask($0) }
        #expect(try pool.apply { try $0.enqueue(more) }.filter { $0 == .spawn(after: nil) }.count == 2)
    }

    @Test func idleWorkersRetireAfterTheIdleTimeoutDownToMinWorkers() throws {
        var pool = try Self.elastic([10, 11, 12], minWorkers: 1)
        #expect(pool.log.contains(.checkIdle))
        pool.clock.advance(by: .seconds(5))
        #expect(pool.apply { $0.checkIdle() }.essential == [])
        pool.clock.advance(by: .seconds(6))
        let retired = pool.apply { $0.checkIdle() }.essential
        #expect(retired.count == 2 && retired.allSatisfy { if case .retire = $0 { true } else { false } })
        for case .retire(let pid) in retired {
            let (reason, decisions) = pool.exit(pid)
            #expect(reason == .idle)
            #expect(!decisions.contains(.spawn(after: nil)), "an idle worker is not replaced")
        }
        #expect(pool.machine.workers.count == 1)
        // The last one stays, however long it idles.
        pool.clock.advance(by: .seconds(100))
        #expect(pool.apply { $0.checkIdle() }.essential == [])
        #expect(pool.machine.workers.count == 1)
    }

    @Test func withMinWorkersZeroTheLastWorkerRetiresAndWorkStartsOneAgain() throws {
        var pool = try Self.elastic([10])
        pool.clock.advance(by: .seconds(11))
        #expect(pool.apply { $0.checkIdle() }.essential == [.retire(10)])
        // Work arrives before the retired worker is gone: nothing is offered (it could take it in
        // the instant before its kill), and a new worker starts.
        let decisions = try pool.apply { try $0.enqueue([FakeTask(0)]) }
        #expect(decisions.essential == [.spawn(after: nil)])
        #expect(pool.exit(10).reason == .idle)
        #expect(pool.machine.workerSpawned(11) != nil)
        #expect(pool.apply { $0.workerReady(11) }.essential == [.offer(task: 0)])
        #expect(pool.take(11) == 0)
        #expect(pool.finish(11).task == 0)
    }

    @Test func aWorkerDoesNotRetireWhileTasksWait() throws {
        var pool = try Self.elastic([10, 11])
        _ = try pool.apply { try $0.enqueue([FakeTask(0), FakeTask(1)]) }
        pool.take(10)
        pool.clock.advance(by: .seconds(11))
        // Task 1 is on the feed, untaken: worker 11 is about to take it.
        #expect(pool.apply { $0.checkIdle() }.essential == [])
        #expect(pool.take(11) == 1)
    }

    @Test func withoutAnIdleTimeoutNoIdleCheckIsArmed() throws {
        var pool = try PoolHarness.ready([10, 11])
        _ = try pool.apply { try $0.enqueue([FakeTask(0)]) }
        pool.take(10)
        pool.finish(10)
        #expect(!pool.log.contains(.checkIdle))
    }

    @Test func waitAndRunTimesComeFromTheScheduleTheBoardsTakeTimeAndTheOutcome() throws {
        var pool = try PoolHarness.ready([10])
        let task = FakeTask(0)
        task.scheduledAt = 1_000_000_000
        _ = try pool.apply { try $0.enqueue([task]) }
        pool.board.nanoseconds = 1_030_000_000 // taken 30 ms after its schedule
        pool.take(10)
        pool.clock.nanoseconds = 1_230_000_000 // its outcome 200 ms later
        pool.finish(10)
        let wait = pool.machine.waitTimes.summary, run = pool.machine.runTimes.summary
        #expect(wait.count == 1 && run.count == 1)
        #expect(wait.max - .milliseconds(30) < .milliseconds(2) && .milliseconds(30) - wait.max < .milliseconds(2))
        #expect(run.max - .milliseconds(200) < .milliseconds(10) && .milliseconds(200) - run.max < .milliseconds(10))
        // A task whose worker dies counts until the death; a take time off the board's bounds is
        // clamped (the word is the job's memory too).
        let crashed = FakeTask(1)
        crashed.scheduledAt = 2_000_000_000
        _ = try pool.apply { try $0.enqueue([crashed]) }
        pool.board.nanoseconds = 99_000_000_000
        pool.take(10)
        pool.clock.nanoseconds = 2_500_000_000
        pool.exit(10)
        #expect(pool.machine.runTimes.count == 2 && pool.machine.waitTimes.count == 2)
        #expect(pool.machine.waitTimes.summary.max == .milliseconds(500))
    }
}

extension Array where Element == Decision {
    /// The decisions without timer bookkeeping.
    var essential: [Decision] { filter { !$0.isBookkeeping } }
}
