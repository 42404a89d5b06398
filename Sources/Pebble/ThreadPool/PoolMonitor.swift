// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A value under a pthread mutex: the thread pool's state.
///
/// A plain pthread mutex rather than `Synchronization.Mutex`: on Linux the latter is a
/// priority-inheriting futex, which goes through the kernel on every contended lock and unlock.
/// The pool's lock is contended by design (the scheduling thread against the drains taking
/// batches), and a PI handover there cost a third of the throughput. A pthread mutex is also one
/// ThreadSanitizer understands. The pointer-based `lock()`/`value`/`unlock()` lets the hot path
/// work on the state in place, with no closure.
///
/// ```swift
/// let monitor = PoolMonitor(0)
/// monitor.withLock { $0 += 1 }
/// ```
final class PoolMonitor<Value>: @unchecked Sendable {
    // @unchecked Sendable: `value` is only touched with `mutex` held (`withLock`, or between
    // `lock()` and `unlock()`); the mutex never moves (allocated once, freed in deinit).
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// The value; touch it only with the mutex held.
    let value: UnsafeMutablePointer<Value>

    init(_ initial: Value) {
        mutex = .allocate(capacity: 1)
        // Adaptive: a contended lock spins a little before it sleeps; the pool's critical
        // sections are a few dozen instructions, shorter than a sleep and a wake-up.
        var mutexAttributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&mutexAttributes)
        pthread_mutexattr_settype(&mutexAttributes, Int32(PTHREAD_MUTEX_ADAPTIVE_NP))
        pthread_mutex_init(mutex, &mutexAttributes)
        pthread_mutexattr_destroy(&mutexAttributes)
        value = .allocate(capacity: 1)
        value.initialize(to: initial)
    }

    deinit {
        value.deinitialize(count: 1)
        value.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always) func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }

    @inline(__always)
    func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value.pointee)
    }
}
