// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A task executor that runs every job of a task on the thread that waits for it.
///
/// The worker loop starts each `ProcessJob` as a `Task` that prefers this executor, then runs the
/// task's jobs itself until the task is done: a job that never suspends runs entirely on the worker
/// thread, with no hop to the cooperative pool. Work the job sends elsewhere (actors, other tasks)
/// runs there as usual and comes back here.
final class InlineExecutor: TaskExecutor {
    private let jobs = StateLock<[UnownedJob]>([])
    private let available = DispatchSemaphore(value: 0)

    func enqueue(_ job: UnownedJob) {
        jobs.withLock { $0.append(job) }
        available.signal()
    }

    /// Runs `operation` as a task on this executor and returns its result.
    func runToCompletion<R: Sendable>(_ operation: @escaping @Sendable () async -> R) -> R {
        let result = StateLock<R?>(nil)
        let done = Atomic<Bool>(false)
        Task(executorPreference: self) {
            let value = await operation()
            result.withLock { $0 = value }
            done.store(true, ordering: .releasing)
            self.available.signal()
        }
        while !done.load(ordering: .acquiring) {
            available.wait()
            for job in jobs.withLock({ jobs in
                defer { jobs.removeAll() }
                return jobs
            }) {
                job.runSynchronously(on: asUnownedTaskExecutor())
            }
        }
        return result.withLock { $0! }
    }
}
