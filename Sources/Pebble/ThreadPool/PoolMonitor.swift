// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A value under a pthread mutex, with condition variables (on the monotonic clock) that wait on
/// that mutex: the thread pool's state, where its worker threads park.
///
/// A plain pthread mutex rather than `Synchronization.Mutex`: on Linux the latter is a
/// priority-inheriting futex, which goes through the kernel on every contended lock and unlock.
/// The pool's lock is contended by design (the scheduling thread against the workers popping
/// batches), and a PI handover there cost a third of the throughput. A pthread mutex is also one
/// ThreadSanitizer understands.
///
/// ```swift
/// let monitor = PoolMonitor(0, conditions: 1)
/// monitor.withLock { $0 += 1 }
/// ```
final class PoolMonitor<Value>: @unchecked Sendable {
    // @unchecked Sendable: `value` is only touched with `mutex` held (`withLock`, or between
    // `lock()` and `unlock()`); the pthread objects never move (allocated once, freed in deinit).
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let conditions: UnsafeMutablePointer<pthread_cond_t>
    private let conditionCount: Int
    /// The value; touch it only with the mutex held.
    let value: UnsafeMutablePointer<Value>

    init(_ initial: Value, conditions count: Int) {
        mutex = .allocate(capacity: 1)
        // Adaptive: a contended lock spins a little before it sleeps; the pool's critical
        // sections are a few dozen instructions, shorter than a sleep and a wake-up.
        var mutexAttributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&mutexAttributes)
        pthread_mutexattr_settype(&mutexAttributes, Int32(PTHREAD_MUTEX_ADAPTIVE_NP))
        pthread_mutex_init(mutex, &mutexAttributes)
        pthread_mutexattr_destroy(&mutexAttributes)
        conditionCount = count
        conditions = .allocate(capacity: count)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        for index in 0..<count { pthread_cond_init(conditions + index, &attributes) }
        pthread_condattr_destroy(&attributes)
        value = .allocate(capacity: 1)
        value.initialize(to: initial)
    }

    deinit {
        value.deinitialize(count: 1)
        value.deallocate()
        for index in 0..<conditionCount { pthread_cond_destroy(conditions + index) }
        conditions.deallocate()
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

    /// Waits on condition `index` (the mutex held) until signalled or until `deadline`; returns
    /// `false` when the deadline passed. May return early (spuriously): re-check the state.
    func wait(_ index: Int, until deadline: MonotonicDeadline) -> Bool {
        var time = deadline.value
        return pthread_cond_timedwait(conditions + index, mutex, &time) != ETIMEDOUT
    }

    /// Wakes the thread waiting on condition `index` (call with the mutex held or not).
    @inline(__always) func signal(_ index: Int) {
        pthread_cond_signal(conditions + index)
    }
}
