// SPDX-License-Identifier: Apache-2.0
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs `body` with a new process pool, then closes it and waits for its tasks and workers.
///
/// ```swift
/// let outputs = try withProcessPool(maxWorkers: 2) { pool in
///     try (1...4).map { try pool.schedule(Square(n: $0)) }.map { try $0.result() }
/// }
/// ```
@available(*, noasync, renamed: "withProcessPool(configuration:_:)", message: "blocks the thread")
public func withProcessPool<R>(maxWorkers: Int = usableCPUCount(), _ body: (ProcessPool) throws -> R) throws -> R {
    let pool = try ProcessPool(maxWorkers: maxWorkers)
    defer {
        pool.close()
        try? pool.join()
    }
    return try body(pool)
}
