// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import Pebble
@testable import PebbleTestSupport

@Suite(.timeLimit(.minutes(1)))
struct FutureTests {
    @Test func completesExactlyOnce() throws {
        let future = Future<Int>()
        #expect(future.complete(.success(1)))
        #expect(!future.complete(.success(2)))
        #expect(!future.complete(.failure(TestFailure(reason: "late"))))
        #expect(try future.result() == 1)
        #expect(future.isDone && !future.isRunning && !future.isCancelled)
    }

    @Test func resultTimeoutLeavesTheTaskAlone() throws {
        let future = Future<Int>()
        #expect(throws: PebbleError.self) { try future.result(timeout: .milliseconds(20)) }
        #expect(pebbleCode(errorOf { try future.result(timeout: .zero) }) == .waitTimedOut)
        #expect(!future.isDone)
        future.complete(.success(3))
        #expect(try future.result(timeout: .seconds(1)) == 3)
    }

    @Test func negativeWaitTimeoutIsInvalid() {
        let future = Future<Int>(completed: .success(1))
        #expect(pebbleCode(errorOf { try future.result(timeout: .seconds(-1)) }) == .invalidArgument)
    }

    @Test func errorReturnsNilOnSuccessAndTheErrorOnFailure() throws {
        #expect(try Future<Int>(completed: .success(1)).error() == nil)
        let failed = Future<Int>(completed: .failure(TestFailure(reason: "x")))
        #expect(try failed.error() as? TestFailure == TestFailure(reason: "x"))
    }

    @Test func whenCompleteOnADoneFutureRunsAtOnceOnTheCaller() {
        let future = Future<Int>(completed: .success(5))
        let ranInline = Box(false)
        future.whenComplete { result in ranInline.value = (try? result.get()) == 5 }
        #expect(ranInline.value)
    }

    @Test func whenCompleteRunsOnceAfterCompletion() throws {
        let future = Future<Int>()
        let calls = EventCounter()
        future.whenComplete { _ in calls.record() }
        future.complete(.success(1))
        future.complete(.success(2))
        #expect(calls.wait(for: 1))
        #expect(!calls.wait(for: 1, seconds: 0.05))
        #expect(calls.value == 1)
    }

    @Test func cancelPendingCompletesWithCancellation() {
        let future = Future<Int>()
        #expect(future.cancel())
        #expect(future.isCancelled && future.isDone)
        #expect(future.completedOutcome?.failure is CancellationError)
        #expect(!future.cancel())
        #expect(!future.markRunning())
    }

    @Test func cancelRunningWithoutStopHandlerIsRefused() {
        let future = Future<Int>()
        #expect(future.markRunning())
        #expect(future.isRunning)
        #expect(!future.cancel())
        #expect(!future.isDone)
    }

    @Test func awaitingValue() async throws {
        let future = Future<Int>()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.01) { future.complete(.success(9)) }
        #expect(try await future.value == 9)
    }

    @Test func cancellingTheAwaitingTaskCancelsTheFuture() async throws {
        let future = Future<Int>()
        let waiter = Task { try await future.value }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(future.isCancelled)
    }
}
