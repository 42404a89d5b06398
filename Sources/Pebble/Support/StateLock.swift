// SPDX-License-Identifier: Apache-2.0
#if PEBBLE_TSAN
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The lock over every piece of shared state: `Synchronization.Mutex`, except in builds for the
/// thread sanitizer.
///
/// A contended `Synchronization.Mutex` on Linux is handed over inside the kernel (a
/// priority-inheriting futex), which ThreadSanitizer cannot see: it then reports races on the very
/// state the lock protects (reproduced with four threads appending to a `Mutex<[Int]>`). Builds for
/// the sanitizer (`Scripts/sanitizers.sh` passes `-DPEBBLE_TSAN`) use this pthread mutex, with the
/// same `withLock`, which the sanitizer understands.
typealias StateLock<Value> = SanitizerVisibleMutex<Value>

/// A pthread mutex around a value. `@unchecked Sendable`: `value` is only touched under `mutex`.
final class SanitizerVisibleMutex<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
#else
import Synchronization

/// The lock over every piece of shared state: `Synchronization.Mutex` (see the sanitizer build
/// in this file for the one exception).
typealias StateLock<Value> = Mutex<Value>
#endif
