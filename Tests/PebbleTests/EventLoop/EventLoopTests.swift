// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Testing
import _PebbleShim

@testable import Pebble
@testable import PebbleTestSupport

/// A pipe, both ends close-on-exec and non-blocking.
private func makePipe() throws -> (read: Int32, write: Int32) {
    var ends: [Int32] = [-1, -1]
    guard pebble_pipe_cloexec(&ends) == 0 else { throw TestFailure(reason: "pipe2: \(errno)") }
    for fd in ends { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    return (ends[0], ends[1])
}

/// The event loop on real descriptors: hang-ups and errors are events, cancel removes the
/// descriptor from the epoll set before the cancel handler closes it, exactly once, and nothing
/// is left behind after many registrations come and go.
@Suite(.timeLimit(.minutes(2)))
struct EventLoopTests {
    @Test func aHangUpIsAnEventAndTheHandlerReadsEndOfFile() throws {
        let loop = try EventLoop()
        let pipe = try makePipe()
        let queue = DispatchQueue(label: "test")
        let sawEnd = EventCounter(), closed = EventCounter()
        let registration = EventRegistration(fd: pipe.read, interest: .readable, queue: queue, loop: loop)
        registration.setEventHandler { [registration] in
            var byte: UInt8 = 0
            let got = read(pipe.read, &byte, 1)
            if got == 0 {
                sawEnd.record()
                registration.cancel()
            }
        }
        registration.setCancelHandler {
            close(pipe.read)
            closed.record()
        }
        registration.resume()
        close(pipe.write)
        #expect(sawEnd.wait(seconds: 10))
        #expect(closed.wait(seconds: 10))
        #expect(sawEnd.value == 1)
        #expect(loop.count == 0)
    }

    @Test func aLevelStaysReadyUntilReadAcrossRearms() throws {
        let loop = try EventLoop()
        let pipe = try makePipe()
        let queue = DispatchQueue(label: "test")
        let bytes = EventCounter(), closed = EventCounter()
        let registration = EventRegistration(fd: pipe.read, interest: .readable, queue: queue, loop: loop)
        // One byte per event: the re-armed one-shot watch brings the handler back for each.
        registration.setEventHandler { [registration] in
            var byte: UInt8 = 0
            let got = read(pipe.read, &byte, 1)
            if got == 1 { bytes.record() } else if got == 0 { registration.cancel() }
        }
        registration.setCancelHandler {
            close(pipe.read)
            closed.record()
        }
        registration.resume()
        let data: [UInt8] = Array(repeating: 1, count: 100)
        #expect(write(pipe.write, data, data.count) == 100)
        #expect(bytes.wait(for: 100, seconds: 20))
        close(pipe.write)
        #expect(closed.wait(seconds: 10))
        #expect(bytes.value == 100)
    }

    @Test func aWriterWhoseReaderIsGoneGetsAnEvent() throws {
        let loop = try EventLoop()
        let pipe = try makePipe()
        // Fill the pipe, so the only event left is the error once the reader goes.
        let chunk = [UInt8](repeating: 0, count: 65536)
        while write(pipe.write, chunk, chunk.count) > 0 {}
        let queue = DispatchQueue(label: "test")
        let broken = EventCounter(), closed = EventCounter()
        let registration = EventRegistration(fd: pipe.write, interest: .writable, queue: queue, loop: loop)
        registration.setEventHandler { [registration] in
            if pebble_write_nosigpipe(pipe.write, chunk, chunk.count) < 0 && errno == EPIPE {
                broken.record()
                registration.cancel()
            }
        }
        registration.setCancelHandler {
            close(pipe.write)
            closed.record()
        }
        registration.resume()
        close(pipe.read)
        #expect(broken.wait(seconds: 10))
        #expect(closed.wait(seconds: 10))
    }

    @Test func cancelRemovesTheDescriptorBeforeTheCancelHandlerRunsExactlyOnce() throws {
        let loop = try EventLoop()
        let pipe = try makePipe()
        let queue = DispatchQueue(label: "test")
        let cancelled = EventCounter()
        let stillWatched = StateLock<Bool?>(nil)
        let registration = EventRegistration(fd: pipe.read, interest: .readable, queue: queue, loop: loop)
        registration.setEventHandler {}
        registration.setCancelHandler {
            // Out of the epoll set already: modifying it there fails with ENOENT.
            let result = pebble_epoll_control(
                loop.descriptor, Int32(PEBBLE_EPOLL_MODIFY), pipe.read,
                UInt32(PEBBLE_EPOLL_IN), 1)
            let enoent = errno == ENOENT
            stillWatched.withLock { $0 = !(result < 0 && enoent) }
            close(pipe.read)
            cancelled.record()
        }
        registration.resume()
        #expect(loop.count == 1)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in registration.cancel() }
        #expect(registration.isCancelled)
        #expect(cancelled.wait(seconds: 10))
        // Anything else queued on `queue` runs after the cancel handler: then it ran once.
        queue.sync {}
        #expect(cancelled.value == 1)
        #expect(stillWatched.withLock { $0 } == false)
        #expect(loop.count == 0)
        close(pipe.write)
    }

    @Test func noHandlerRunsAfterCancelEvenWhileReady() throws {
        let loop = try EventLoop()
        let pipe = try makePipe()
        let queue = DispatchQueue(label: "test")
        let afterCancel = StateLock(0)
        let cancelled = EventCounter(), firstEvent = EventCounter()
        let registration = EventRegistration(fd: pipe.read, interest: .readable, queue: queue, loop: loop)
        registration.setEventHandler { [registration] in
            // Never reads: the descriptor stays ready, and only cancel stops the events.
            if registration.isCancelled { afterCancel.withLock { $0 += 1 } }
            firstEvent.record()
            registration.cancel()
        }
        registration.setCancelHandler {
            close(pipe.read)
            cancelled.record()
        }
        registration.resume()
        #expect(write(pipe.write, "x", 1) == 1)
        #expect(firstEvent.wait(seconds: 10))
        #expect(cancelled.wait(seconds: 10))
        queue.sync {}
        #expect(firstEvent.value == 1)
        #expect(afterCancel.withLock { $0 } == 0)
        close(pipe.write)
    }

    @Test func aDescriptorEpollRefusesGetsOneEventToSeeTheError() throws {
        let loop = try EventLoop()
        // A regular file: epoll_ctl fails with EPERM.
        let fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC)
        #expect(fd >= 0)
        let queue = DispatchQueue(label: "test")
        let events = EventCounter(), closed = EventCounter()
        let registration = EventRegistration(fd: fd, interest: .readable, queue: queue, loop: loop)
        registration.setEventHandler { [registration] in
            events.record()
            registration.cancel()
        }
        registration.setCancelHandler {
            close(fd)
            closed.record()
        }
        registration.resume()
        #expect(events.wait(seconds: 10))
        #expect(closed.wait(seconds: 10))
        #expect(loop.count == 0)
    }

    /// Many short-lived registrations on sockets and pipes whose peers hang up, on several queues:
    /// every hang-up is handled, every descriptor closed once, none left in the epoll set.
    @Test func manyRegistrationsChurnAndLeaveNothing() throws {
        let loop = try EventLoop()
        let rounds = 40, perRound = 50
        let queues = (0..<4).map { DispatchQueue(label: "test-\($0)") }
        for round in 0..<rounds {
            let closed = EventCounter()
            for index in 0..<perRound {
                var pair: [Int32] = [-1, -1]
                let usePipe = index % 2 == 0
                if usePipe {
                    let ends = try makePipe()
                    pair = [ends.read, ends.write]
                } else {
                    #expect(
                        socketpair(
                            AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &pair)
                            == 0)
                }
                let (watched, peer) = (pair[0], pair[1])
                let registration = EventRegistration(fd: watched, interest: .readable, queue: queues[index % 4], loop: loop)
                registration.setEventHandler { [registration] in
                    var buffer = [UInt8](repeating: 0, count: 64)
                    let got = read(watched, &buffer, 64)
                    if got == 0 || (got < 0 && errno != EAGAIN) { registration.cancel() }
                }
                registration.setCancelHandler {
                    close(watched)
                    closed.record()
                }
                registration.resume()
                if (index + round) % 3 == 0 { _ = write(peer, "data", 4) }
                close(peer)
                // Some are cancelled by the owner while the hang-up is on its way.
                if index % 5 == 0 { registration.cancel() }
            }
            #expect(closed.wait(for: perRound, seconds: 30))
        }
        for queue in queues { queue.sync {} }
        // Every descriptor closed once (the counters); none left in the epoll set. (Descriptor
        // counts are checked by the churn test, which runs alone.)
        #expect(loop.count == 0)
    }
}
