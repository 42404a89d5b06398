// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Testing

@testable import Pebble
@testable import PebbleTestSupport

/// Ports Pebble's waitforthreads tests, plus the thread itself.
@Suite(.timeLimit(.minutes(1)))
struct JoinableThreadTests {
    /// The calling thread's name as the kernel reports it.
    private static func currentThreadName() -> String {
        let name = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
        return name.trimmingCharacters(in: .newlines)
    }

    /// A thread that runs until `gate` is signalled.
    private static func gatedThread(_ gate: DispatchSemaphore, name: String? = nil) -> JoinableThread {
        JoinableThread(name: name) { gate.wait() }
    }

    @Test func runsTheBodyOnANamedThread() {
        let seen = UtilityTestBox<String?>(nil)
        let thread = JoinableThread(name: "pebble-worker") { seen.value = Self.currentThreadName() }
        thread.start()
        #expect(thread.join(timeout: .seconds(30)))
        #expect(seen.value == "pebble-worker")
        #expect(thread.name == "pebble-worker")
    }

    @Test func longNamesAreCutTo15Bytes() {
        let seen = UtilityTestBox<String?>(nil)
        let thread = JoinableThread(name: "abcdefghijklmnopqrstuvwxyz") { seen.value = Self.currentThreadName() }
        thread.start()
        #expect(thread.join(timeout: .seconds(30)))
        #expect(seen.value == "abcdefghijklmno")
    }

    @Test func isAliveWhileTheBodyRuns() {
        let gate = DispatchSemaphore(value: 0)
        let thread = Self.gatedThread(gate)
        #expect(!thread.isAlive)
        thread.start()
        #expect(thread.isAlive)
        gate.signal()
        #expect(thread.join(timeout: .seconds(30)))
        #expect(!thread.isAlive)
    }

    @Test func joinTimesOutWhileTheBodyRuns() {
        let gate = DispatchSemaphore(value: 0)
        let thread = Self.gatedThread(gate)
        thread.start()
        #expect(!thread.join(timeout: .milliseconds(50)))
        #expect(!thread.join(timeout: .seconds(-1)))
        gate.signal()
        #expect(thread.join())
        #expect(thread.join(timeout: .zero))
    }

    @Test func joinWaitsForAThreadThatWasNotStartedYet() {
        let thread = JoinableThread {}
        #expect(!thread.join(timeout: .milliseconds(20)))
        let joined = UtilityTestBox(false)
        let joinerDone = UtilityTestSupport.startThread { joined.value = thread.join(timeout: .seconds(30)) }
        thread.start()
        #expect(UtilityTestSupport.waitForEvent(joinerDone))
        #expect(joined.value)
    }

    @Test func joinFromTheThreadItselfReturnsFalse() {
        let box = UtilityTestBox<JoinableThread?>(nil)
        let result = UtilityTestBox<(joined: Bool, waited: Duration)?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let thread = JoinableThread {
            ready.wait()
            let clock = ContinuousClock()
            let start = clock.now
            let joined = box.value!.join(timeout: .seconds(20))
            result.value = (joined, clock.now - start)
        }
        box.value = thread
        thread.start()
        ready.signal()
        #expect(thread.join(timeout: .seconds(50)))
        #expect(result.value?.joined == false)
        #expect((result.value?.waited ?? .seconds(99)) < .seconds(10))
    }

    @Test func waitForThreadsReturnsAFinishedThread() {
        let thread = JoinableThread {}
        thread.start()
        let finished = waitForThreads([thread], timeout: .seconds(30))
        #expect(finished.count == 1 && finished.first === thread)
    }

    @Test func waitForThreadsReturnsAllFinishedThreadsInOrder() {
        let threads = (0..<5).map { i in JoinableThread(name: "finisher-\(i)") {} }
        threads.forEach { $0.start() }
        threads.forEach { #expect($0.join(timeout: .seconds(30))) }
        let finished = waitForThreads(threads, timeout: .seconds(30))
        #expect(finished.count == 5)
        #expect(zip(finished, threads).allSatisfy { $0 === $1 })
    }

    @Test func waitForThreadsWakesWhenOneThreadFinishes() {
        let gates = (0..<3).map { _ in DispatchSemaphore(value: 0) }
        let threads = gates.map { Self.gatedThread($0) }
        threads.forEach { $0.start() }
        let started = DispatchSemaphore(value: 0)
        let result = UtilityTestBox<[JoinableThread]>([])
        let waiterDone = UtilityTestSupport.startThread {
            started.signal()
            result.value = waitForThreads(threads, timeout: .seconds(30))
        }
        #expect(UtilityTestSupport.waitForEvent(started))
        gates[1].signal()
        #expect(UtilityTestSupport.waitForEvent(waiterDone))
        #expect(result.value.count == 1 && result.value.first === threads[1])
        gates[0].signal()
        gates[2].signal()
        threads.forEach { #expect($0.join(timeout: .seconds(30))) }
    }

    @Test func waitForThreadsReturnsNothingOnTimeout() {
        let gate = DispatchSemaphore(value: 0)
        let thread = Self.gatedThread(gate)
        thread.start()
        #expect(waitForThreads([thread], timeout: .milliseconds(100)).isEmpty)
        #expect(waitForThreads([thread], timeout: .seconds(-5)).isEmpty)
        gate.signal()
        #expect(thread.join(timeout: .seconds(30)))
    }

    @Test func waitForThreadsIgnoresThreadsNotStartedYet() {
        let done = JoinableThread {}
        let idle = JoinableThread {}
        done.start()
        let finished = waitForThreads([idle, done], timeout: .seconds(30))
        #expect(finished.count == 1 && finished.first === done)
    }
}
