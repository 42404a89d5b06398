// SPDX-License-Identifier: Apache-2.0
import Dispatch
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One-shot helpers: run one closure on a fresh thread, or one job in a fresh process
/// (Pebble's `concurrent` decorators).
///
/// ```swift
/// let future = Concurrent.thread(name: "checksum") { checksum(file) }
/// print(try future.result())
/// ```
public enum Concurrent {
    /// Runs `work` on a new thread named `name` (Linux keeps its first 15 bytes) and returns its future.
    ///
    /// The thread cannot be stopped, so `cancel()` on the future returns `false` once it runs.
    ///
    /// ```swift
    /// let future = Concurrent.thread { 6 * 7 }
    /// ```
    public static func thread<T: Sendable>(name: String? = nil, _ work: @escaping @Sendable () throws -> T) -> Future<T> {
        let future = Future<T>()
        // Its thread has to start first: a waiter watches it through that (WaitSpin.slowStart).
        future.core.markSlowStart()
        let status = startDetachedThread {
            if let name { pebble_set_thread_name(name) }
            guard future.markRunning() else { return }
            future.complete(Result { try work() })
        }
        if status != 0 {
            future.complete(.failure(PebbleError(.spawnFailed, "pthread_create failed: \(String(cString: strerror(status)))")))
        }
        return future
    }
}
