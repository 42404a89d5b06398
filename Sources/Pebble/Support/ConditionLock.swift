// SPDX-License-Identifier: Apache-2.0
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A value guarded by a pthread mutex, with one condition variable to wait until the value is
/// in a wanted state.
///
/// `Synchronization.Mutex` has no condition variable, hence this small wrapper. Waits measure
/// time on `CLOCK_MONOTONIC`, so changes to the wall clock do not shorten or stretch them.
///
/// ```swift
/// let items = ConditionLock([Int]())
/// items.withLock { $0.append(1) }
/// items.broadcast()
/// let first = items.withLock(when: { !$0.isEmpty }, before: .distantFuture) { $0.removeFirst() }
/// ```
final class ConditionLock<State: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: `state` is read and written only while `mutex` is held, and the
    // mutex and condition live at fixed heap addresses for the object's whole life.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var state: State

    /// Creates the lock around `initial`.
    init(_ initial: State) {
        state = initial
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` with exclusive access to the state. Call ``broadcast()`` after a change
    /// that a waiter may be waiting for.
    func withLock<R>(_ body: (inout State) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }

    /// Waits until `ready` holds for the state, then runs `body` with exclusive access, all
    /// under one hold of the lock. Returns `nil`, without running `body`, when `deadline`
    /// passes first; a deadline already past still checks `ready` once.
    func withLock<R>(
        when ready: (State) -> Bool, before deadline: DispatchTime, _ body: (inout State) throws -> R
    ) rethrows -> R? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let limit = deadline == .distantFuture ? nil : Self.monotonicTimespec(for: deadline)
        while !ready(state) {
            guard let limit else {
                pthread_cond_wait(condition, mutex)
                continue
            }
            var until = limit
            if pthread_cond_timedwait(condition, mutex, &until) == ETIMEDOUT, !ready(state) { return nil }
        }
        return try body(&state)
    }

    /// Wakes every thread waiting in ``withLock(when:before:_:)`` so it checks its condition again.
    func broadcast() {
        pthread_cond_broadcast(condition)
    }

    /// `deadline` as an absolute `CLOCK_MONOTONIC` time, measured from now so it does not
    /// depend on which clock Dispatch uses.
    private static func monotonicTimespec(for deadline: DispatchTime) -> timespec {
        let nowUptime = DispatchTime.now().uptimeNanoseconds
        let remaining = deadline.uptimeNanoseconds > nowUptime ? deadline.uptimeNanoseconds - nowUptime : 0
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nanoseconds = UInt64(now.tv_nsec) + remaining % 1_000_000_000
        let (seconds, overflow) = Int(now.tv_sec).addingReportingOverflow(
            Int(remaining / 1_000_000_000) + Int(nanoseconds / 1_000_000_000))
        if overflow { return timespec(tv_sec: .max, tv_nsec: 0) }
        return timespec(tv_sec: seconds, tv_nsec: Int(nanoseconds % 1_000_000_000))
    }
}
