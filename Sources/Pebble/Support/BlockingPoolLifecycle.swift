// SPDX-License-Identifier: Apache-2.0

/// What the blocking `with…Pool` helpers need of a pool: both pools' blocking lifecycle.
protocol BlockingPoolLifecycle {
    func close()
    func stop()
    func join(timeout: Duration?) throws
}

extension ThreadPool: BlockingPoolLifecycle {}
extension ProcessPool: BlockingPoolLifecycle {}

/// Runs `body` with `pool`, then, as the async `with…Pool` helpers do: closes the pool and joins it
/// when `body` returns; stops it (unfinished futures fail) and joins it when `body` throws, so a
/// failed body leaves nothing running behind it, then rethrows.
func withBlockingPoolScope<Pool: BlockingPoolLifecycle, R>(_ pool: Pool, _ body: (Pool) throws -> R) throws -> R {
    let result: R
    do {
        result = try body(pool)
    } catch {
        pool.stop()
        try? pool.join(timeout: nil)
        throw error
    }
    pool.close()
    try? pool.join(timeout: nil)
    return result
}
