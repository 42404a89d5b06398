// SPDX-License-Identifier: Apache-2.0
import Dispatch

/// A first-in first-out queue that threads share: `get` waits for an element and, when the queue
/// has a capacity, `put` waits for room. It is Python's `queue.Queue` for ``waitForQueues(_:timeout:)``.
///
/// Waiting blocks the calling thread on a condition variable; do not call the blocking methods
/// from Swift concurrency tasks, which must not block their threads for long.
///
/// ```swift
/// let queue = BlockingQueue<Int>(capacity: 10)
/// let producer = JoinableThread { for i in 0..<100 { queue.put(i) } }
/// producer.start()
/// let first = try queue.get(timeout: .seconds(1))   // 0
/// ```
public final class BlockingQueue<Element: Sendable>: Sendable {
    private struct State: Sendable {
        var elements: [Element] = []
        /// Index of the oldest element; slots before it are spent and compacted away lazily.
        var head = 0
        var waiters: [ObjectIdentifier: ReadinessWaiter] = [:]

        var count: Int { elements.count - head }

        mutating func removeFirst() -> Element {
            let element = elements[head]
            head += 1
            if head * 2 >= elements.count {
                elements.removeFirst(head)
                head = 0
            }
            return element
        }
    }

    /// The most elements the queue holds, or `nil` when it is unbounded.
    ///
    /// ```swift
    /// BlockingQueue<Int>(capacity: 8).capacity   // 8
    /// ```
    public let capacity: Int?
    private let state = ConditionLock(State())

    /// Creates an empty queue.
    ///
    /// - Parameter capacity: The most elements the queue holds before ``put(_:)`` waits, or
    ///   `nil` (the default) for no limit. A capacity below 1 is a programming error and traps.
    ///
    /// ```swift
    /// let unbounded = BlockingQueue<String>()
    /// let bounded = BlockingQueue<String>(capacity: 2)
    /// ```
    public init(capacity: Int? = nil) {
        if let capacity { precondition(capacity >= 1, "BlockingQueue capacity must be at least 1, got \(capacity)") }
        self.capacity = capacity
    }

    /// Appends `element`, first waiting for room while the queue is at its capacity.
    ///
    /// ```swift
    /// queue.put("job")
    /// ```
    public func put(_ element: Element) {
        let waiters = state.withLock(when: { [capacity] in $0.count < capacity ?? .max }, before: .distantFuture) {
            $0.elements.append(element)
            return Array($0.waiters.values)
        }
        state.broadcast()
        waiters?.forEach { $0.notify() }
    }

    /// Removes and returns the oldest element, waiting for one while the queue is empty.
    ///
    /// - Parameter timeout: How long to wait; `nil` (the default) waits forever and a negative
    ///   timeout counts as zero: the call takes an element only if one is already there.
    /// - Throws: ``PebbleError`` with code ``PebbleError/Code/waitTimedOut`` when no element
    ///   arrived in time.
    ///
    /// ```swift
    /// do {
    ///     let job = try queue.get(timeout: .milliseconds(500))
    /// } catch let error as PebbleError where error.code == .waitTimedOut {
    ///     print("no job yet")
    /// }
    /// ```
    public func get(timeout: Duration? = nil) throws -> Element {
        let element = state.withLock(when: { $0.count > 0 }, before: deadline(after: timeout)) { $0.removeFirst() }
        guard let element else {
            throw PebbleError(.waitTimedOut, "BlockingQueue.get found no element within \(timeout ?? .zero)")
        }
        state.broadcast()
        return element
    }

    /// The number of elements in the queue now; another thread may change it right after.
    ///
    /// ```swift
    /// if queue.count == 0 { print("drained") }
    /// ```
    public var count: Int {
        state.withLock { $0.count }
    }
}

extension BlockingQueue: ReadinessSource {
    var isReady: Bool { count > 0 }

    func addWaiter(_ waiter: ReadinessWaiter) {
        state.withLock { $0.waiters[ObjectIdentifier(waiter)] = waiter }
    }

    func removeWaiter(_ waiter: ReadinessWaiter) {
        state.withLock { $0.waiters[ObjectIdentifier(waiter)] = nil }
    }
}

/// Waits until at least one of `queues` holds an element, like Pebble's `waitforqueues`.
///
/// The call wakes as soon as an element is put on any of the queues; it does not poll. It
/// takes no element: another consumer may empty a returned queue before you call `get`.
///
/// - Parameters:
///   - queues: The queues to watch.
///   - timeout: How long to wait; `nil` (the default) waits forever, a negative timeout counts
///     as zero.
/// - Returns: The non-empty queues, in input order, or `[]` when the timeout passed first.
///
/// ```swift
/// let jobs = BlockingQueue<String>(), urgent = BlockingQueue<String>()
/// for queue in waitForQueues([jobs, urgent], timeout: .seconds(5)) {
///     print(try queue.get(timeout: .zero))
/// }
/// ```
public func waitForQueues<E>(_ queues: [BlockingQueue<E>], timeout: Duration? = nil) -> [BlockingQueue<E>] {
    waitForReady(queues, timeout: timeout)
}
