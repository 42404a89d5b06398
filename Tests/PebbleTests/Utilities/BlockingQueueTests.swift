// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Testing

@testable import Pebble
@testable import PebbleTestSupport

/// Ports Pebble's waitforqueues tests, plus the queue itself.
@Suite(.timeLimit(.minutes(1)))
struct BlockingQueueTests {
    @Test func elementsComeOutInTheOrderTheyWentIn() throws {
        let queue = BlockingQueue<Int>()
        for i in 0..<100 { queue.put(i) }
        #expect(queue.count == 100)
        for i in 0..<100 { #expect(try queue.get(timeout: .zero) == i) }
        #expect(queue.count == 0)
        queue.put(7)
        #expect(try queue.get() == 7)
    }

    @Test func getTimesOutOnAnEmptyQueue() {
        let queue = BlockingQueue<String>()
        let error = #expect(throws: PebbleError.self) { try queue.get(timeout: .milliseconds(50)) }
        #expect(error?.code == .waitTimedOut)
        let immediate = #expect(throws: PebbleError.self) { try queue.get(timeout: .seconds(-1)) }
        #expect(immediate?.code == .waitTimedOut)
    }

    @Test func negativeTimeoutStillTakesAnElementThatIsThere() throws {
        let queue = BlockingQueue<String>()
        queue.put("ready")
        #expect(try queue.get(timeout: .seconds(-1)) == "ready")
    }

    @Test func getWaitsForAnElementPutByAnotherThread() throws {
        let queue = BlockingQueue<Int>()
        UtilityTestSupport.startThread { queue.put(42) }
        #expect(try queue.get(timeout: .seconds(30)) == 42)
    }

    @Test func putWaitsWhileTheQueueIsFull() throws {
        let queue = BlockingQueue<Int>(capacity: 1)
        #expect(queue.capacity == 1)
        queue.put(1)
        let putDone = UtilityTestSupport.startThread { queue.put(2) }
        #expect(putDone.wait(timeout: .now() + .milliseconds(200)) == .timedOut)
        #expect(queue.count == 1)
        #expect(try queue.get(timeout: .zero) == 1)
        #expect(UtilityTestSupport.waitForEvent(putDone))
        #expect(try queue.get(timeout: .seconds(30)) == 2)
    }

    @Test func manyProducersAndConsumersLoseNothing() throws {
        let queue = BlockingQueue<Int>(capacity: 4)
        let producers = (0..<4).map { p in
            UtilityTestSupport.startThread { for i in 0..<250 { queue.put(p * 1000 + i) } }
        }
        var seen = Set<Int>()
        for _ in 0..<1000 { seen.insert(try queue.get(timeout: .seconds(30))) }
        producers.forEach { #expect(UtilityTestSupport.waitForEvent($0)) }
        #expect(seen.count == 1000)
        #expect(queue.count == 0)
    }

    @Test func waitForQueuesReturnsANonEmptyQueue() {
        let queue = BlockingQueue<Int>()
        queue.put(1)
        let ready = waitForQueues([queue], timeout: .seconds(30))
        #expect(ready.count == 1 && ready.first === queue)
    }

    @Test func waitForQueuesReturnsAllNonEmptyQueuesInOrder() {
        let queues = (0..<5).map { _ in BlockingQueue<Int>() }
        queues.forEach { $0.put(1) }
        let ready = waitForQueues(queues, timeout: .seconds(30))
        #expect(ready.count == 5)
        #expect(zip(ready, queues).allSatisfy { $0 === $1 })

        let some = (0..<3).map { _ in BlockingQueue<Int>() }
        some[0].put(1)
        some[2].put(1)
        let someReady = waitForQueues(some, timeout: .seconds(30))
        #expect(someReady.count == 2 && someReady[0] === some[0] && someReady[1] === some[2])
    }

    @Test func waitForQueuesWakesWhenAnElementIsPut() {
        let queues = (0..<3).map { _ in BlockingQueue<String>() }
        let started = DispatchSemaphore(value: 0)
        let result = UtilityTestBox<[BlockingQueue<String>]>([])
        let waiterDone = UtilityTestSupport.startThread {
            started.signal()
            result.value = waitForQueues(queues, timeout: .seconds(30))
        }
        #expect(UtilityTestSupport.waitForEvent(started))
        queues[2].put("wake")
        #expect(UtilityTestSupport.waitForEvent(waiterDone))
        #expect(result.value.count == 1 && result.value.first === queues[2])
    }

    @Test func waitForQueuesReturnsNothingOnTimeout() {
        let queues = [BlockingQueue<Int>(), BlockingQueue<Int>()]
        #expect(waitForQueues(queues, timeout: .milliseconds(100)).isEmpty)
        #expect(waitForQueues(queues, timeout: .seconds(-1)).isEmpty)
    }
}
