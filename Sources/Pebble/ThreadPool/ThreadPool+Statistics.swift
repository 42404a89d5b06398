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
        /// Async `run` calls waiting for room in a full queue (`maxPending`), a snapshot.
        ///
        /// ```swift
        /// if pool.statistics.waitingForRoom > 0 { print("callers are held back: raise maxPending or maxWorkers") }
        /// ```
        public var waitingForRoom: Int
        /// How long tasks waited, over the pool's life: from `schedule` (or `run`, `map`) until a
        /// worker started them; tasks that started only, a `map` chunk counting as one.
        ///
        /// ```swift
        /// if pool.statistics.waitTime.p99 > .milliseconds(100) { print("add workers") }
        /// ```
        public var waitTime: LatencySummary
        /// How long tasks ran, over the pool's life: from their start on a worker until their
        /// closure returned or threw (a `map` chunk counting as one). A task whose future failed
        /// at its deadline or timeout counts until its closure returned: the time it held a thread.
        ///
        /// ```swift
        /// print("p50 run:", pool.statistics.runTime.p50)
        /// ```
        public var runTime: LatencySummary

        /// Creates statistics with the given counts (all zero by default), for tests and adapters.
        ///
        /// ```swift
        /// let none = ThreadPool.Statistics()
        /// ```
        public init(
            pending: Int = 0, running: Int = 0, completed: Int = 0, failed: Int = 0,
            timedOut: Int = 0, cancelled: Int = 0
        ) {
            self.init(
                pending: pending, running: running, completed: completed, failed: failed,
                timedOut: timedOut, cancelled: cancelled, waitingForRoom: 0, waitTime: .empty, runTime: .empty)
        }

        /// Creates statistics with every figure given, for tests and adapters.
        ///
        /// ```swift
        /// let stats = ThreadPool.Statistics(pending: 0, running: 1, completed: 10, failed: 0, timedOut: 0,
        ///                                   cancelled: 0, waitingForRoom: 0, waitTime: .empty, runTime: .empty)
        /// ```
        public init(
            pending: Int, running: Int, completed: Int, failed: Int, timedOut: Int, cancelled: Int,
            waitingForRoom: Int, waitTime: LatencySummary, runTime: LatencySummary
        ) {
            self.pending = pending
            self.running = running
            self.completed = completed
            self.failed = failed
            self.timedOut = timedOut
            self.cancelled = cancelled
            self.waitingForRoom = waitingForRoom
            self.waitTime = waitTime
            self.runTime = runTime
        }

        /// One line, for a log.
        ///
        /// ```swift
        /// print(pool.statistics)
        /// // pending 3, running 2, completed 120, failed 1, timedOut 0, cancelled 0, waitingForRoom 0,
        /// // waitTime (count 123, p50 12.0 µs, …), runTime (count 121, p50 2.1 ms, …)
        /// ```
        public var description: String {
            "pending \(pending), running \(running), completed \(completed), failed \(failed), "
                + "timedOut \(timedOut), cancelled \(cancelled), waitingForRoom \(waitingForRoom), "
                + "waitTime (\(waitTime)), runTime (\(runTime))"
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
        let (enqueued, waiting, waitTime, runTime) = state.withLock { state in
            // The summaries are worked out under the lock (a walk over the buckets, no copy of
            // them: a copy would make the next task's record copy the storage).
            (state.machine.enqueued, state.machine.waiters.count, state.waitTimes.summary, state.runTimes.summary)
        }
        var statistics = tally.snapshot(enqueued: enqueued)
        statistics.waitingForRoom = waiting
        statistics.waitTime = waitTime
        statistics.runTime = runTime
        return statistics
    }

    /// Each slot's wait and run times of its current batch (nanoseconds), recorded by its drain
    /// without a lock and moved into the pool's histograms under the lock the drain takes anyway
    /// when it asks for its next batch. One buffer per slot, touched only by the slot's drain (one
    /// at a time, handed over under the pool's lock) and, under that lock, by the drain itself.
    final class Latencies: @unchecked Sendable {
        // @unchecked Sendable: see above; the storage never moves and is freed in deinit.
        /// Pairs (wait, run) per slot.
        let base: UnsafeMutablePointer<UInt64>
        let counts: UnsafeMutablePointer<Int>
        let slots: Int
        /// Pairs a slot holds: a batch is never longer.
        let capacity: Int

        init(slots: Int, capacity: Int) {
            self.slots = slots
            self.capacity = capacity
            base = .allocate(capacity: slots * capacity * 2)
            base.initialize(repeating: 0, count: slots * capacity * 2)
            counts = .allocate(capacity: slots)
            counts.initialize(repeating: 0, count: slots)
        }

        deinit {
            base.deallocate()
            counts.deallocate()
        }

        /// Whether the slot's buffer is full (then its drain moves it before recording more).
        @inline(__always) func isFull(_ slot: Int) -> Bool { counts[slot] == capacity }

        @inline(__always) func append(_ slot: Int, wait: UInt64, run: UInt64) {
            let pair = base + (slot * capacity + counts[slot]) * 2
            pair[0] = wait
            pair[1] = run
            counts[slot] += 1
        }

        /// Moves the slot's pairs into the histograms; with the pool's lock held.
        @inline(__always) func move(_ slot: Int, into state: UnsafeMutablePointer<State>) {
            let count = counts[slot]
            guard count > 0 else { return }
            var pair = base + slot * capacity * 2
            for _ in 0..<count {
                state.pointee.waitTimes.record(nanoseconds: pair[0])
                state.pointee.runTimes.record(nanoseconds: pair[1])
                pair += 2
            }
            counts[slot] = 0
        }
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

extension ThreadPool.Statistics: Codable {}
