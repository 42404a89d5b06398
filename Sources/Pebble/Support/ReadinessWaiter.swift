// SPDX-License-Identifier: Apache-2.0
import Dispatch

/// A wake-up flag that one caller of ``waitForReady(_:timeout:)`` registers with every object it
/// waits on; each object calls ``notify()`` when it may have become ready.
///
/// ```swift
/// let waiter = ReadinessWaiter()
/// queue.addWaiter(waiter)
/// _ = waiter.wait(until: deadline(after: .seconds(1)))
/// ```
final class ReadinessWaiter: Sendable {
    private let notified = ConditionLock(false)

    /// Records a wake-up and wakes the waiting thread.
    func notify() {
        notified.withLock { $0 = true }
        notified.broadcast()
    }

    /// Waits for a wake-up recorded since the last wait, and clears it.
    /// Returns `false` when `deadline` passed first.
    func wait(until deadline: DispatchTime) -> Bool {
        notified.withLock(when: { $0 }, before: deadline) { $0 = false } != nil
    }
}

/// Something ``waitForReady(_:timeout:)`` can wait on: a thread that may finish, a queue that
/// may receive an element.
///
/// ```swift
/// extension Mailbox: ReadinessSource { … }
/// let ready = waitForReady([box1, box2], timeout: .seconds(1))
/// ```
protocol ReadinessSource: AnyObject, Sendable {
    /// Whether the object is ready now.
    var isReady: Bool { get }
    /// Calls `waiter.notify()` on every change that may make the object ready, until removed.
    func addWaiter(_ waiter: ReadinessWaiter)
    /// Stops notifying `waiter`.
    func removeWaiter(_ waiter: ReadinessWaiter)
}

/// The ready ones among `sources`, in input order, as soon as there is at least one;
/// `[]` when `timeout` passes first (`nil` waits forever, a negative timeout counts as zero).
///
/// The waiter is registered before readiness is checked, so a change between the check and the
/// wait is not lost; after each wake-up readiness is checked again, because another thread may
/// have taken what made a source ready.
///
/// ```swift
/// let finished = waitForReady(threads, timeout: .seconds(5))
/// ```
func waitForReady<Source: ReadinessSource>(_ sources: [Source], timeout: Duration?) -> [Source] {
    let end = deadline(after: timeout)
    let waiter = ReadinessWaiter()
    sources.forEach { $0.addWaiter(waiter) }
    defer { sources.forEach { $0.removeWaiter(waiter) } }
    while true {
        let ready = sources.filter(\.isReady)
        if !ready.isEmpty || !waiter.wait(until: end) { return ready }
    }
}
