// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Testing

@testable import Pebble
@testable import PebbleTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Ports Pebble's sighandler tests. Serialized: signal dispositions are process-wide.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct SignalHandlerTests {
    /// A handler to recognise as "the disposition before sighandler".
    private static let marker: @convention(c) (Int32) -> Void = { _ in }

    private static func handlerAddress(_ signal: Int32) -> Int {
        var current = sigaction()
        sigaction(signal, nil, &current)
        return unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self)
    }

    private static func setDisposition(_ signal: Int32, _ handler: __sighandler_t?) {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = handler
        sigaction(signal, &action, nil)
    }

    /// Records the signals a handler received and signals `arrived` for each.
    private final class Received: Sendable {
        let arrived = DispatchSemaphore(value: 0)
        let signals = UtilityTestBox<[Int32]>([])

        func record(_ signal: Int32) {
            signals.update { $0.append(signal) }
            arrived.signal()
        }
    }

    @Test func handlerRunsWhenTheSignalArrives() {
        let received = Received()
        let handler = sighandler([SIGUSR1]) { received.record($0) }
        defer { handler.cancel() }
        kill(getpid(), SIGUSR1)
        #expect(UtilityTestSupport.waitForEvent(received.arrived))
        #expect(received.signals.value == [SIGUSR1])
    }

    @Test func handlerRunsForEverySignalInTheList() {
        let received = Received()
        let handler = sighandler([SIGUSR1, SIGUSR2, SIGUSR1]) { received.record($0) }
        defer { handler.cancel() }
        #expect(handler.signals == [SIGUSR1, SIGUSR2])
        kill(getpid(), SIGUSR1)
        #expect(UtilityTestSupport.waitForEvent(received.arrived))
        kill(getpid(), SIGUSR2)
        #expect(UtilityTestSupport.waitForEvent(received.arrived))
        #expect(received.signals.value == [SIGUSR1, SIGUSR2])
    }

    @Test func handlerRunsOnTheGivenQueue() {
        let key = DispatchSpecificKey<String>()
        let queue = DispatchQueue(label: "sighandler-test")
        queue.setSpecific(key: key, value: "target")
        let onQueue = UtilityTestBox<String?>(nil)
        let arrived = DispatchSemaphore(value: 0)
        let handler = sighandler([SIGUSR2], queue: queue) { _ in
            onQueue.value = DispatchQueue.getSpecific(key: key)
            arrived.signal()
        }
        defer { handler.cancel() }
        kill(getpid(), SIGUSR2)
        #expect(UtilityTestSupport.waitForEvent(arrived))
        #expect(onQueue.value == "target")
    }

    @Test func cancelRestoresThePreviousDisposition() {
        Self.setDisposition(SIGUSR2, Self.marker)
        defer { Self.setDisposition(SIGUSR2, SIG_DFL) }
        let markerAddress = unsafeBitCast(Self.marker, to: Int.self)
        let handler = sighandler([SIGUSR2]) { _ in }
        #expect(Self.handlerAddress(SIGUSR2) != markerAddress)
        handler.cancel()
        #expect(Self.handlerAddress(SIGUSR2) == markerAddress)
        handler.cancel()
        #expect(Self.handlerAddress(SIGUSR2) == markerAddress)
    }

    @Test func twoHandlersShareASignalUntilTheLastIsCancelled() {
        Self.setDisposition(SIGUSR1, Self.marker)
        defer { Self.setDisposition(SIGUSR1, SIG_DFL) }
        let markerAddress = unsafeBitCast(Self.marker, to: Int.self)
        let first = Received(), second = Received()
        let firstHandler = sighandler([SIGUSR1]) { first.record($0) }
        let secondHandler = sighandler([SIGUSR1]) { second.record($0) }
        kill(getpid(), SIGUSR1)
        #expect(UtilityTestSupport.waitForEvent(first.arrived))
        #expect(UtilityTestSupport.waitForEvent(second.arrived))

        firstHandler.cancel()
        #expect(Self.handlerAddress(SIGUSR1) != markerAddress)
        kill(getpid(), SIGUSR1)
        #expect(UtilityTestSupport.waitForEvent(second.arrived))
        #expect(first.signals.value == [SIGUSR1])

        secondHandler.cancel()
        #expect(Self.handlerAddress(SIGUSR1) == markerAddress)
    }

    @Test func aNewHandlerWorksAfterAnEarlierOneWasCancelled() {
        for _ in 0..<3 {
            let received = Received()
            let handler = sighandler([SIGUSR2]) { received.record($0) }
            kill(getpid(), SIGUSR2)
            #expect(UtilityTestSupport.waitForEvent(received.arrived))
            handler.cancel()
        }
    }

    @Test func sigchldIsNeverIgnoredSoChildrenCanStillBeWaitedFor() throws {
        let received = Received()
        let handler = sighandler([SIGCHLD]) { received.record($0) }
        defer { handler.cancel() }
        #expect(Self.handlerAddress(SIGCHLD) != unsafeBitCast(SIG_IGN, to: Int.self))
        #expect(try UtilityTestChildProcess.run(["/bin/sh", "-c", "exit 3"]) == 3)
        #expect(UtilityTestSupport.waitForEvent(received.arrived))
    }
}
