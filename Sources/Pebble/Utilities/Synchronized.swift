// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation

/// A lock that ``synchronized(_:_:)`` can hold around a body: `NSLock`, `NSRecursiveLock`,
/// `DispatchSemaphore` and ``ProcessLock`` conform.
///
/// ```swift
/// final class SemaphoreLock: Lockable {
///     private let semaphore = DispatchSemaphore(value: 1)
///     func lock() { semaphore.wait() }
///     func unlock() { semaphore.signal() }
/// }
/// ```
public protocol Lockable: Sendable {
    /// Waits until the lock is free and takes it.
    ///
    /// ```swift
    /// lock.lock()
    /// defer { lock.unlock() }
    /// ```
    func lock()

    /// Releases the lock taken by ``lock()``.
    ///
    /// ```swift
    /// lock.unlock()
    /// ```
    func unlock()
}

extension NSLock: Lockable {}

extension NSRecursiveLock: Lockable {}

extension DispatchSemaphore: Lockable {
    /// Takes one unit of the semaphore, waiting for it: `wait()`.
    ///
    /// ```swift
    /// let semaphore = DispatchSemaphore(value: 1)
    /// semaphore.lock(); defer { semaphore.unlock() }
    /// ```
    public func lock() { wait() }

    /// Returns one unit to the semaphore: `signal()`.
    ///
    /// ```swift
    /// semaphore.unlock()
    /// ```
    public func unlock() { signal() }
}

/// The lock behind ``synchronized(_:)``. It is recursive so that synchronized code can call
/// other synchronized code on the same thread.
let pebbleGlobalLock = NSRecursiveLock()

/// Runs `body` while holding one process-wide lock that every caller of this function shares,
/// like Pebble's `@synchronized` decorator without a lock argument.
///
/// The lock is recursive: a body may call `synchronized` again on the same thread without
/// deadlocking. It is shared by all code in the process, so keep bodies short, and prefer
/// ``synchronized(_:_:)`` with a lock of your own for anything that is not rare.
///
/// ```swift
/// let total = synchronized { counter.increment() }
/// ```
public func synchronized<R>(_ body: () throws -> R) rethrows -> R {
    try synchronized(pebbleGlobalLock, body)
}

/// Runs `body` while holding `lock`, and releases it afterwards, also when `body` throws.
///
/// ```swift
/// let lock = NSLock()
/// synchronized(lock) { cache["key"] = value }
///
/// let semaphore = DispatchSemaphore(value: 1)
/// synchronized(semaphore) { appendToLog(line) }
/// ```
public func synchronized<R>(_ lock: some Lockable, _ body: () throws -> R) rethrows -> R {
    lock.lock()
    defer { lock.unlock() }
    return try body()
}
