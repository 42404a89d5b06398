// SPDX-License-Identifier: Apache-2.0
import Dispatch

/// Runs `body` with a new thread pool: when it returns, closes the pool and waits for its tasks; when it
/// throws, stops the pool (unfinished futures fail) and waits, then rethrows. The blocking twin of
/// the async ``withThreadPool(configuration:isolation:_:)``.
///
/// ```swift
/// let total = try withThreadPool(maxWorkers: 4) { pool in
///     try (1...10).map { n in try pool.schedule { n * n } }.reduce(0) { try $0 + $1.result() }
/// }
/// ```
@available(*, noasync, renamed: "withThreadPool(configuration:_:)", message: "blocks the thread")
public func withThreadPool<R>(maxWorkers: Int = usableCPUCount(), _ body: (ThreadPool) throws -> R) throws -> R {
    try withBlockingPoolScope(ThreadPool(maxWorkers: maxWorkers), body)
}
