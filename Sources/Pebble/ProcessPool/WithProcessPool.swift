// SPDX-License-Identifier: Apache-2.0
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs `body` with a new process pool: when it returns, closes the pool and waits for its tasks; when it
/// throws, stops the pool (unfinished futures fail) and waits, then rethrows. The blocking twin of
/// the async ``withProcessPool(configuration:isolation:_:)``.
///
/// ```swift
/// let outputs = try withProcessPool(maxWorkers: 2) { pool in
///     try (1...4).map { try pool.schedule(Square(n: $0)) }.map { try $0.result() }
/// }
/// ```
@available(*, noasync, renamed: "withProcessPool(configuration:_:)", message: "blocks the thread")
public func withProcessPool<R>(maxWorkers: Int = usableCPUCount(), _ body: (ProcessPool) throws -> R) throws -> R {
    try withBlockingPoolScope(ProcessPool(maxWorkers: maxWorkers), body)
}
