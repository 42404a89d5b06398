// SPDX-License-Identifier: Apache-2.0

/// The async `run` calls waiting for room in a pool's full queue, oldest first. Each waiter is
/// resumed once: with room, or with an error when it is cancelled or the pool stops.
/// Generic over what a waiter is, so that its order is unit-tested with plain values.
struct RoomWaiters<Continuation> {
    private var waiters = FIFO<(id: UInt64, continuation: Continuation)>()
    private var nextID: UInt64 = 0

    var isEmpty: Bool { waiters.isEmpty }

    /// A new waiter's id, for ``remove(_:)``.
    mutating func reserveID() -> UInt64 {
        nextID += 1
        return nextID
    }

    /// Adds a waiter; at the front when it had its turn and lost the room to another caller.
    mutating func add(_ id: UInt64, _ continuation: Continuation, atFront: Bool) {
        if atFront { waiters.prepend((id, continuation)) } else { waiters.append((id, continuation)) }
    }

    /// Removes waiter `id` (its Task was cancelled); returns its continuation if it was waiting.
    mutating func remove(_ id: UInt64) -> Continuation? {
        var found: Continuation?
        for waiter in waiters.removeAll() {
            if waiter.id == id { found = waiter.continuation } else { waiters.append(waiter) }
        }
        return found
    }

    /// Up to `count` waiters, oldest first.
    mutating func popFirst(_ count: Int) -> [Continuation] {
        var popped: [Continuation] = []
        while popped.count < count, let waiter = waiters.popFirst() { popped.append(waiter.continuation) }
        return popped
    }

    /// Every waiter, to fail them.
    mutating func failAll() -> [Continuation] {
        waiters.removeAll().map(\.continuation)
    }
}
