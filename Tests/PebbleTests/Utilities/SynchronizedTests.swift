// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Testing

@testable import Pebble
@testable import PebbleTestSupport

/// Ports Pebble's synchronized tests. Serialized: the tests share the process-wide lock.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct SynchronizedTests {
    struct Failure: Error {}

    @Test func globalLockIsHeldInsideTheBody() {
        synchronized {
            let acquired = UtilityTestSupport.onNewThread { () -> Bool in
                let acquired = pebbleGlobalLock.try()
                if acquired { pebbleGlobalLock.unlock() }
                return acquired
            }
            #expect(!acquired)
        }
    }

    @Test func globalLockIsReleasedAfterTheBody() {
        let value = synchronized { 42 }
        #expect(value == 42)
        let acquired = UtilityTestSupport.onNewThread { () -> Bool in
            let acquired = pebbleGlobalLock.try()
            if acquired { pebbleGlobalLock.unlock() }
            return acquired
        }
        #expect(acquired)
    }

    @Test func globalLockIsReleasedWhenTheBodyThrows() {
        #expect(throws: Failure.self) { try synchronized { throw Failure() } }
        let acquired = UtilityTestSupport.onNewThread { () -> Bool in
            let acquired = pebbleGlobalLock.try()
            if acquired { pebbleGlobalLock.unlock() }
            return acquired
        }
        #expect(acquired)
    }

    @Test func globalLockIsRecursive() {
        let value = synchronized { synchronized { "nested" } }
        #expect(value == "nested")
    }

    @Test func semaphoreIsHeldInsideTheBodyAndReleasedAfter() {
        let semaphore = DispatchSemaphore(value: 1)
        synchronized(semaphore) {
            let result = UtilityTestSupport.onNewThread { semaphore.wait(timeout: .now()) }
            #expect(result == .timedOut)
        }
        let result = UtilityTestSupport.onNewThread { semaphore.wait(timeout: .now()) }
        #expect(result == .success)
        semaphore.signal()
    }

    @Test func nsLockIsHeldInsideTheBodyAndReleasedAfter() {
        let lock = NSLock()
        synchronized(lock) {
            #expect(!UtilityTestSupport.onNewThread { lock.try() })
        }
        let acquired = UtilityTestSupport.onNewThread { () -> Bool in
            let acquired = lock.try()
            if acquired { lock.unlock() }
            return acquired
        }
        #expect(acquired)
    }

    @Test func customLockIsReleasedWhenTheBodyThrows() {
        let lock = NSLock()
        #expect(throws: Failure.self) { try synchronized(lock) { throw Failure() } }
        #expect(lock.try())
        lock.unlock()
    }

    @Test func recursiveLockAllowsNesting() {
        let lock = NSRecursiveLock()
        #expect(synchronized(lock) { synchronized(lock) { 7 } } == 7)
    }
}
