// SPDX-License-Identifier: Apache-2.0
/// A first-in first-out queue with amortised O(1) push and pop (the standard library has no deque).
struct FIFO<Element> {
    private var storage: [Element?] = []
    private var head = 0

    var isEmpty: Bool { head == storage.count }
    var count: Int { storage.count - head }

    mutating func append(_ element: Element) { storage.append(element) }

    /// Puts `element` back at the front.
    mutating func prepend(_ element: Element) {
        if head > 0 {
            head -= 1
            storage[head] = element
        } else {
            storage.insert(element, at: 0)
        }
    }

    mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        // Moved out, not copied and then cleared: no retain and release of a class element.
        let element = storage[head].take()
        defer {
            head += 1
            if head == storage.count {
                storage.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024 && head * 2 >= storage.count {
                storage.removeFirst(head)
                head = 0
            }
        }
        return element
    }

    /// Removes and returns every element, oldest first.
    mutating func removeAll() -> [Element] {
        defer {
            storage = []
            head = 0
        }
        return storage[head...].map { $0! }
    }

    /// Removes every element that matches, keeping the order of the others.
    mutating func removeAll(where shouldRemove: (Element) -> Bool) {
        let kept = removeAll().filter { !shouldRemove($0) }
        storage = kept
        head = 0
    }

    func count(where predicate: (Element) -> Bool) -> Int {
        storage[head...].count { predicate($0!) }
    }

    func contains(where predicate: (Element) -> Bool) -> Bool {
        storage[head...].contains { predicate($0!) }
    }
}

extension FIFO: Sendable where Element: Sendable {}
