// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import Pebble
@testable import PebbleTestSupport

/// Pebble's test_concurrent_process.py and test_asynchronous_process.py, ported.
@Suite(.timeLimit(.minutes(2)))
struct ConcurrentProcessTests {
    /// Every test runs under both start methods.
    static let startMethods: [ProcessPool.StartMethod] = [.zygote, .spawn]

    @Test(arguments: startMethods)
    func decoratedResult(_ startMethod: ProcessPool.StartMethod) throws {
        #expect(try Concurrent.process(AddOne(x: 1), startMethod: startMethod).result() == 2)
    }

    @Test(arguments: startMethods)
    func decoratedResultAwaited(_ startMethod: ProcessPool.StartMethod) async throws {
        #expect(try await Concurrent.process(AddOne(x: 1), startMethod: startMethod).value == 2)
    }

    @Test(arguments: startMethods)
    func callbackReceivesTheValue(_ startMethod: ProcessPool.StartMethod) throws {
        let value = Box<Int?>(nil)
        let done = EventCounter()
        try Concurrent.process(AddOne(x: 1), startMethod: startMethod).whenComplete {
            value.value = try? $0.get()
            done.record()
        }
        #expect(done.wait(seconds: 30))
        #expect(value.value == 2)
    }

    @Test(arguments: startMethods)
    func errorIsRebuilt(_ startMethod: ProcessPool.StartMethod) throws {
        #expect(
            try Concurrent.process(ThrowCodable(), startMethod: startMethod).error() as? CodableFailure
                == CodableFailure(code: 7, detail: "BOOM!"))
    }

    @Test(arguments: startMethods)
    func returnedErrorIsAValue(_ startMethod: ProcessPool.StartMethod) throws {
        #expect(try Concurrent.process(ReturnError(), startMethod: startMethod).result().detail == "returned")
    }

    @Test(arguments: startMethods)
    func unencodableOutputFails(_ startMethod: ProcessPool.StartMethod) throws {
        #expect(pebbleCode(try Concurrent.process(ReturnUnencodable(), startMethod: startMethod).error()) == .encodingFailed)
    }

    @Test(arguments: startMethods)
    func timeout(_ startMethod: ProcessPool.StartMethod) throws {
        let future = try Concurrent.process(SleepJob(seconds: 10), timeout: .milliseconds(100), startMethod: startMethod)
        #expect(try future.error(timeout: .seconds(5)) is TimeoutError)
        let seen = Box<(any Error)?>(nil)
        let done = EventCounter()
        future.whenComplete {
            seen.value = $0.failure
            done.record()
        }
        #expect(done.wait())
        #expect(seen.value is TimeoutError)
    }

    @Test(arguments: startMethods)
    func deadProcessReportsExitCodeAndPid(_ startMethod: ProcessPool.StartMethod) throws {
        let future = try Concurrent.process(ExitJob(status: 123), startMethod: startMethod)
        let expired = try #require(try future.error() as? ProcessExpired)
        #expect(expired.exitCode == 123 && expired.pid > 0)
        let seen = Box<(any Error)?>(nil)
        let done = EventCounter()
        future.whenComplete {
            seen.value = $0.failure
            done.record()
        }
        #expect(done.wait())
        #expect((seen.value as? ProcessExpired)?.exitCode == 123)
    }

    @Test(arguments: startMethods)
    func cancel(_ startMethod: ProcessPool.StartMethod) throws {
        let future = try Concurrent.process(SleepJob(seconds: 10), startMethod: startMethod)
        #expect(future.cancel())
        #expect(try future.error() is CancellationError)
    }

    @Test(arguments: startMethods)
    func ignoringSIGTERMStillTimesOut(_ startMethod: ProcessPool.StartMethod) throws {
        let future = try Concurrent.process(
            SleepJob(seconds: 10, ignoreSIGTERM: true), timeout: .milliseconds(100), startMethod: startMethod)
        #expect(try future.error(timeout: .seconds(5)) is TimeoutError)
    }

    @Test(arguments: startMethods)
    func eachCallGetsAFreshProcessWithItsName(_ startMethod: ProcessPool.StartMethod) throws {
        let first = try Concurrent.process(WorkerPid(), name: "pebble_named", startMethod: startMethod).result()
        let second = try Concurrent.process(WorkerPid(), startMethod: startMethod).result()
        #expect(first != second && first != getpid())
        #expect(
            try Concurrent.process(ProcessName(), name: "asynchronous_process_name", startMethod: startMethod).result() == "asynchronous_pr"
        )
    }

    @Test(arguments: startMethods)
    func privateTypeIsRejected(_ startMethod: ProcessPool.StartMethod) {
        #expect(pebbleCode(errorOf { try Concurrent.process(PrivateConcurrentJob(), startMethod: startMethod) }) == .jobNotResolvable)
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
