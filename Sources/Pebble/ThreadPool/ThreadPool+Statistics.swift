// SPDX-License-Identifier: Apache-2.0
import Synchronization

extension ThreadPool {
    /// What a ``ThreadPool`` holds and has done, for a metrics system.
    ///
    /// The outcome counters are exact once the futures they count are done: after ``join(timeout:)``,
    /// `completed + failed + timedOut + cancelled` equals the number of tasks scheduled, a `map`
    /// counting one per input. Each outcome is counted under its future's lock, before anyone can
    /// see the future done. `pending` and `running` are a snapshot.
    ///
    /// ```swift
    /// let stats = pool.statistics
    /// gauge("pool.pending").record(stats.pending)
    /// counter("pool.timed_out").increment(to: stats.timedOut)
    /// ```
    public struct Statistics: Sendable, Hashable, CustomStringConvertible {
        /// Tasks scheduled and not started yet (a `map` chunk counts as one), the count `maxPending`
        /// bounds. A task cancelled or past its deadline while queued no longer counts.
        public var pending: Int
        /// Closures running on the pool's threads now, including one whose future already failed
        /// at its deadline or timeout (a thread cannot be stopped).
        public var running: Int
        /// Tasks (map inputs) that finished with a value.
        public var completed: Int
        /// Tasks (map inputs) whose closure threw, or whose pool's initializer failed.
        public var failed: Int
        /// Tasks (map inputs) that failed with ``TimeoutError``: a `map` timeout or a deadline.
        public var timedOut: Int
        /// Tasks (map inputs) that failed with `CancellationError`: `cancel()`, a cancelled
        /// awaiting `Task`, or `stop()`.
        public var cancelled: Int

        /// Creates statistics with the given counts (all zero by default), for tests and adapters.
        ///
        /// ```swift
        /// let none = ThreadPool.Statistics()
        /// ```
        public init(pending: Int = 0, running: Int = 0, completed: Int = 0, failed: Int = 0,
                    timedOut: Int = 0, cancelled: Int = 0) {
            self.pending = pending
            self.running = running
            self.completed = completed
            self.failed = failed
            self.timedOut = timedOut
            self.cancelled = cancelled
        }

        /// One line, for a log.
        ///
        /// ```swift
        /// print(pool.statistics)   // pending 3, running 2, completed 120, failed 1, timedOut 0, cancelled 0
        /// ```
        public var description: String {
            "pending \(pending), running \(running), completed \(completed), failed \(failed), "
                + "timedOut \(timedOut), cancelled \(cancelled)"
        }
    }

    /// The pool's statistics now.
    ///
    /// ```swift
    /// pool.close()
    /// try await pool.join()
    /// let s = pool.statistics
    /// assert(s.completed + s.failed + s.timedOut + s.cancelled == scheduled)
    /// ```
    public var statistics: Statistics {
        tally.snapshot(enqueued: state.withLock { $0.machine.enqueued })
    }

    /// The counters behind ``Statistics``: atomics, one block per worker so that workers never
    /// write a shared cache line on the hot path, plus a shared block for what happens off the
    /// workers (a queued task cancelled, past its deadline, or dropped).
    final class Tally: Sendable {
        /// Counts of one worker (or of the shared block), padded to keep blocks on separate cache lines.
        final class Counters: Sendable {
            /// Tasks started (shared block: tasks that completed while still queued).
            let started = Atomic<Int>(0)
            /// Tasks whose closure returned (the thread is free again).
            let finished = Atomic<Int>(0)
            let completed = Atomic<Int>(0)
            let failed = Atomic<Int>(0)
            let timedOut = Atomic<Int>(0)
            let cancelled = Atomic<Int>(0)
            private let padding: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)

            func record(ok: Int, failed: Int) {
                if ok > 0 { completed.wrappingAdd(ok, ordering: .relaxed) }
                if failed > 0 { self.failed.wrappingAdd(failed, ordering: .relaxed) }
            }

            func record(_ error: any Error, weight: Int) {
                switch error {
                case is CancellationError: cancelled.wrappingAdd(weight, ordering: .relaxed)
                case is TimeoutError: timedOut.wrappingAdd(weight, ordering: .relaxed)
                default: failed.wrappingAdd(weight, ordering: .relaxed)
                }
            }
        }

        let workers: [Counters]
        let shared = Counters()
        /// Async `run` calls waiting for room; read on the hot path to skip the lock when zero.
        let waiters = Atomic<Int>(0)

        init(workers: Int) {
            self.workers = (0..<workers).map { _ in Counters() }
        }

        /// Tasks queued and not started: `enqueued` (the pool's count of tasks ever queued, kept
        /// under its state lock), less those started, less those completed while queued.
        func pending(enqueued: Int) -> Int {
            enqueued - started()
        }

        /// Tasks that left the queue: started, or completed while queued.
        func started() -> Int {
            var started = shared.started.load(ordering: .sequentiallyConsistent)
            for worker in workers { started += worker.started.load(ordering: .sequentiallyConsistent) }
            return started
        }

        func snapshot(enqueued: Int) -> Statistics {
            var statistics = Statistics(pending: pending(enqueued: enqueued))
            for block in workers + [shared] {
                if block !== shared {
                    statistics.running += block.started.load(ordering: .relaxed) - block.finished.load(ordering: .relaxed)
                }
                statistics.completed += block.completed.load(ordering: .relaxed)
                statistics.failed += block.failed.load(ordering: .relaxed)
                statistics.timedOut += block.timedOut.load(ordering: .relaxed)
                statistics.cancelled += block.cancelled.load(ordering: .relaxed)
            }
            return statistics
        }
    }
}
