// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing
@testable import Pebble
@testable import PebbleTestSupport

/// Pebble's test_concurrent_process.py and test_asynchronous_process.py, ported.
@Suite(.timeLimit(.minutes(2)))
struct ConcurrentProcessTests {
    @Test func decoratedResult() throws {
        #expect(try Concurrent.process(AddOne(x: 1)).result() == 2)
    }

    @Test func decoratedResultAwaited() async throws {
        #expect(try await Concurrent.process(AddOne(x: 1)).value == 2)
    }

    @Test func callbackReceivesTheValue() throws {
        let value = Box<Int?>(nil)
        let done = EventCounter()
        try Concurrent.process(AddOne(x: 1)).whenComplete { value.value = try? $0.get(); done.record() }
        #expect(done.wait(seconds: 30))
        #expect(value.value == 2)
    }

    @Test func errorIsRebuilt() throws {
        #expect(try Concurrent.process(ThrowCodable()).error() as? CodableFailure == CodableFailure(code: 7, detail: "BOOM!"))
    }

    @Test func returnedErrorIsAValue() throws {
        #expect(try Concurrent.process(ReturnError()).result().detail == "returned")
    }

    @Test func unencodableOutputFails() throws {
        #expect(pebbleCode(try Concurrent.process(ReturnUnencodable()).error()) == .encodingFailed)
    }

    @Test func timeout() throws {
        let future = try Concurrent.process(SleepJob(seconds: 10), timeout: .milliseconds(100))
        #expect(try future.error(timeout: .seconds(5)) is TimeoutError)
        let seen = Box<(any Error)?>(nil)
        let done = EventCounter()
        future.whenComplete { seen.value = $0.failure; done.record() }
        #expect(done.wait())
        #expect(seen.value is TimeoutError)
    }

    @Test func deadProcessReportsExitCodeAndPid() throws {
        let future = try Concurrent.process(ExitJob(status: 123))
        let expired = try #require(try future.error() as? ProcessExpired)
        #expect(expired.exitCode == 123 && expired.pid > 0)
        let seen = Box<(any Error)?>(nil)
        let done = EventCounter()
        future.whenComplete { seen.value = $0.failure; done.record() }
        #expect(done.wait())
        #expect((seen.value as? ProcessExpired)?.exitCode == 123)
    }

    @Test func cancel() throws {
        let future = try Concurrent.process(SleepJob(seconds: 10))
        #expect(future.cancel())
        #expect(try future.error() is CancellationError)
    }

    @Test func ignoringSIGTERMStillTimesOut() throws {
        let future = try Concurrent.process(SleepJob(seconds: 10, ignoreSIGTERM: true), timeout: .milliseconds(100))
        #expect(try future.error(timeout: .seconds(5)) is TimeoutError)
    }

    @Test func eachCallGetsAFreshProcessWithItsName() throws {
        let first = try Concurrent.process(WorkerPid(), name: "pebble_named").result()
        let second = try Concurrent.process(WorkerPid()).result()
        #expect(first != second && first != getpid())
        #expect(try Concurrent.process(ProcessName(), name: "asynchronous_process_name").result() == "asynchronous_pr")
    }

    @Test func privateTypeIsRejected() {
        #expect(pebbleCode(errorOf { try Concurrent.process(PrivateConcurrentJob()) }) == .jobNotResolvable)
    }
}

struct ProcessName: ProcessJob {
    func run() async throws -> String {
        (try? String(contentsOfFile: "/proc/self/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines) ?? ""
    }
}

private struct PrivateConcurrentJob: ProcessJob {
    func run() async throws -> Int { 1 }
}
