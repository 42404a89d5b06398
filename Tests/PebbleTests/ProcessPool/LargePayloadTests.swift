// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing
import _PebbleShim

@testable import Pebble
@testable import PebbleTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct EchoByteArray: ProcessJob {
    let bytes: [UInt8]
    func run() async throws -> [UInt8] { bytes }
}

/// Returns itself: two large values among small fields.
struct EchoPair: ProcessJob, Equatable {
    let first: Data
    let tag: String
    let second: [UInt8]
    let last: Int
    func run() async throws -> EchoPair { self }
}

/// `count` bytes that differ from one seed to the next (a 4 KiB block repeated: quick to make
/// in a debug build).
private func pattern(_ count: Int, seed: Int) -> [UInt8] {
    let block = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ $0 >> 8) }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count)
    while bytes.count < count { bytes += block.prefix(count - bytes.count) }
    return bytes
}

/// Large outputs are received in place, decoded as views of the received buffer (`Data`) and the
/// buffer reused for the next frame once nothing holds it: results must stay intact whatever the
/// caller keeps, drops or mutates.
@Suite(.timeLimit(.minutes(2)))
struct LargePayloadTests {
    static let size = 1 << 20

    @Test(arguments: ProcessPoolTests.startMethods)
    func largeResultsStayIntactWhileMoreArrive(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        defer { pool.stop() }
        // Kept: each later frame needs a buffer of its own.
        var kept: [Data] = []
        for seed in 0..<4 {
            let result = try pool.schedule(EchoData(data: Data(pattern(Self.size, seed: seed)))).result()
            kept.append(result)
        }
        for (seed, result) in kept.enumerated() { #expect(result == Data(pattern(Self.size, seed: seed))) }
        // Dropped at once: each frame may reuse the last one's buffer.
        for seed in 10..<14 {
            #expect(
                try pool.schedule(EchoData(data: Data(pattern(Self.size, seed: seed)))).result() == Data(pattern(Self.size, seed: seed)))
            #expect(
                try pool.schedule(EchoByteArray(bytes: pattern(Self.size - seed, seed: seed))).result()
                    == pattern(Self.size - seed, seed: seed))
        }
        // Mutated in place: neither the next result nor an earlier one changes.
        var mutated = try pool.schedule(EchoData(data: Data(pattern(Self.size, seed: 20)))).result()
        for index in stride(from: 0, to: mutated.count, by: 65536) { mutated[index] ^= 0xFF }
        let next = try pool.schedule(EchoData(data: Data(pattern(Self.size, seed: 20)))).result()
        #expect(next == Data(pattern(Self.size, seed: 20)))
        #expect(mutated != next)
        #expect(kept[0] == Data(pattern(Self.size, seed: 0)))
        // Sizes around the in-place threshold, and small frames after large ones.
        for size in [FrameReader.directThreshold - 1, FrameReader.directThreshold, FrameReader.directThreshold + 1, 1, 0] {
            #expect(try pool.schedule(EchoData(data: Data(pattern(size, seed: size)))).result() == Data(pattern(size, seed: size)))
        }
    }

    /// Requests around the size at which they leave the feed message for a memfd, in a burst
    /// (several on the feed at once), and each alone.
    @Test(arguments: ProcessPoolTests.startMethods)
    func requestsAroundTheInlineLimitArriveIntact(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        defer { pool.stop() }
        let limit = ProcessPoolStateMachine.Settings(maxWorkers: 1).inlineLimit
        let sizes = (-40..<40).map { limit + $0 * 3 } + [1, 0, 4 * limit, 200_000]
        let burst = try sizes.enumerated().map { try pool.schedule(EchoByteArray(bytes: pattern($0.element, seed: $0.offset))) }
        for (index, future) in burst.enumerated() { #expect(try future.result() == pattern(sizes[index], seed: index)) }
        for (index, size) in sizes.enumerated().reversed() {
            #expect(try pool.schedule(EchoByteArray(bytes: pattern(size, seed: index))).result() == pattern(size, seed: index))
        }
    }

    /// Large `Data` and `[UInt8]` values are sent from their own storage, request and reply (each
    /// side's writev of several buffers): every byte arrives, in order, whatever the value's size
    /// or where its bytes start (a slice of a larger `Data`).
    @Test(arguments: ProcessPoolTests.startMethods)
    func largeDataAndByteArraysRoundTripByteExact(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        defer { pool.stop() }
        for (seed, size) in [0, 1, Frame.externalThreshold, 1 << 20, 10_000_000].enumerated() {
            let bytes = pattern(size, seed: seed)
            #expect(try pool.schedule(EchoData(data: Data(bytes))).result() == Data(bytes), "Data of \(size) bytes")
            #expect(try pool.schedule(EchoByteArray(bytes: bytes)).result() == bytes, "[UInt8] of \(size) bytes")
        }
        // A slice: its bytes start 1,001 bytes into a larger buffer, and its indices do too.
        let whole = Data(pattern(3 << 20, seed: 7))
        let slice = whole[1001..<(2 << 20) + 17]
        #expect(slice.startIndex == 1001)
        #expect(try pool.schedule(EchoData(data: slice)).result() == slice)
        // Several large values and small fields in one job, in both directions, some at once.
        let pair = EchoPair(first: Data(pattern(1 << 20, seed: 1)), tag: "between", second: pattern(3 << 20, seed: 2), last: 42)
        let futures = try (0..<4).map { _ in try pool.schedule(pair) }
        for future in futures { #expect(try future.result() == pair) }
    }

    /// With usage recorded, the usage frame travels in the same write as a large outcome sent from
    /// its own storage: both arrive, and the peak counts the request the worker held.
    @Test(arguments: ProcessPoolTests.startMethods)
    func aLargeOutcomeComesWithItsUsage(_ startMethod: ProcessPool.StartMethod) throws {
        var configuration = ProcessPool.Configuration(maxWorkers: 1)
        configuration.startMethod = startMethod
        configuration.recordsResourceUsage = true
        let pool = try ProcessPool(configuration: configuration)
        defer { pool.stop() }
        for seed in 0..<3 {
            let data = Data(pattern(10_000_000, seed: seed))
            let future = try pool.schedule(EchoData(data: data))
            #expect(try future.result() == data)
            let usage = try #require(future.resourceUsage)
            #expect(try #require(usage.peakResidentMemory) >= 10_000_000, "\(usage)")
        }
    }

    /// Large requests travel on the channel of the worker that takes each: many in flight at
    /// once on two workers, some with a timeout (the fetch starts it), each arrives whole and
    /// answers its own future.
    @Test(arguments: ProcessPoolTests.startMethods)
    func largeRequestsInFlightToTwoWorkersArriveIntactInOrder(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 2, startMethod: startMethod)
        defer { pool.stop() }
        let sizes = (0..<12).map { (1 << 20) + $0 * 377_000 }
        let futures = try sizes.enumerated().map { index, size in
            try pool.schedule(EchoByteArray(bytes: pattern(size, seed: index)), timeout: index % 3 == 0 ? .seconds(120) : nil)
        }
        for (index, future) in futures.enumerated() {
            #expect(try future.result() == pattern(sizes[index], seed: index), "request \(index)")
        }
        let pairs = (0..<4).map {
            EchoPair(first: Data(pattern(2 << 20, seed: $0)), tag: "\($0)", second: pattern(3 << 20, seed: $0 + 9), last: $0)
        }
        let answers = try pairs.map { try pool.schedule($0) }
        for (pair, answer) in zip(pairs, answers) { #expect(try answer.result() == pair) }
    }

    enum MidTransferEnd: CaseIterable, Sendable { case workerDies, cancelled, timedOut }

    /// A large request whose worker dies while it arrives fails with ``ProcessExpired``; one
    /// cancelled or timed out while its transfer is stalled (the worker stopped) fails with
    /// `CancellationError` or ``TimeoutError``. Nothing hangs, and the pool goes on with a new
    /// worker.
    @Test(arguments: ProcessPoolTests.startMethods, MidTransferEnd.allCases)
    func aLargeRequestEndedMidTransferFailsAloneAndThePoolGoesOn(_ startMethod: ProcessPool.StartMethod, _ end: MidTransferEnd) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        defer { pool.stop() }
        let arrived = try ReadyFifo()
        let signal = end == .workerDies ? SIGKILL : SIGSTOP
        #expect(try pool.schedule(StopAtNextRequest(readyFifo: arrived.path, signal: signal)).result())
        // Zero pages: large, and quick to make and send; the worker reads it for longer than the
        // thread takes to stop it.
        let large = EchoData(data: Data(count: 128 << 20))
        let future = try pool.schedule(large, timeout: end == .timedOut ? .milliseconds(200) : nil)
        #expect(arrived.waitForReady(1, seconds: 60), "the request never started arriving")
        if end == .cancelled { #expect(future.cancel()) }
        let error = try future.error(timeout: .seconds(60))
        switch end {
        case .workerDies: #expect(error is ProcessExpired, "\(String(describing: error))")
        case .cancelled: #expect(error is CancellationError, "\(String(describing: error))")
        case .timedOut: #expect(error is TimeoutError, "\(String(describing: error))")
        }
        let next = pattern(3 << 20, seed: 5)
        #expect(try pool.schedule(EchoByteArray(bytes: next)).result(timeout: .seconds(60)) == next)
    }

    /// A worker that dies while its large reply arrives (the pool is reading the frame in place,
    /// on the event loop's thread) fails its task alone with ``ProcessExpired``, and the pool goes
    /// on with a new worker.
    @Test(arguments: ProcessPoolTests.startMethods)
    func aWorkerDyingMidReplyFailsItsTaskAndThePoolGoesOn(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, startMethod: startMethod)
        defer { pool.stop() }
        let error = try pool.schedule(DieMidReply(announced: 64 << 20, sent: 3 << 20)).error(timeout: .seconds(60))
        #expect(error is ProcessExpired, "\(String(describing: error))")
        let next = pattern(3 << 20, seed: 6)
        #expect(try pool.schedule(EchoByteArray(bytes: next)).result(timeout: .seconds(60)) == next)
    }

    @Test(arguments: ProcessPoolTests.startMethods)
    func aLargeOutputOverTheLimitIsRefusedAndThePoolGoesOn(_ startMethod: ProcessPool.StartMethod) throws {
        let pool = try ProcessPool(maxWorkers: 1, maxMessageSize: 1 << 20, startMethod: startMethod)
        defer { pool.stop() }
        #expect(try pool.schedule(EchoByteArray(bytes: [])).result().isEmpty)
        let error = try pool.schedule(RepeatBytes(count: 2 << 20)).error()
        #expect(pebbleCode(error) == .messageTooLarge)
        #expect(try pool.schedule(EchoData(data: Data(pattern(900_000, seed: 1)))).result() == Data(pattern(900_000, seed: 1)))
    }
}

/// Starts a thread in its worker that waits until the worker's channel (its one stream socket)
/// has bytes to read, which happens only when a large request starts arriving, then writes a byte
/// to `readyFifo` (a ``ReadyFifo``) and stops its worker (SIGSTOP) or kills it (SIGKILL): that
/// request's transfer stalls, or its worker dies, mid-transfer. Returns whether it found the channel.
struct StopAtNextRequest: ProcessJob {
    let readyFifo: String
    let signal: Int32
    func run() async throws -> Bool {
        guard let channel = workerChannel() else { return false }
        let (fifo, signal) = (readyFifo, signal)
        Thread {
            var watch = pollfd(fd: channel, events: Int16(POLLIN), revents: 0)
            while poll(&watch, 1, -1) < 0 {}
            ReadyFifo.send(UInt8(1), to: fifo)
            kill(getpid(), signal)
        }.start()
        return true
    }
}

/// The worker's channel to its pool, in a job: its one stream socket (`nil` if it has none or
/// more than one).
private func workerChannel() -> Int32? {
    let sockets = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap(Int32.init).filter { fd in
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == Int32(SOCK_STREAM.rawValue)
    }
    return sockets.count == 1 ? sockets[0] : nil
}

/// Writes the start of a reply frame announcing `announced` bytes on its worker's channel (its one
/// stream socket), `sent` of them (a blocking send: they have all reached the pool when it
/// returns), then kills its worker: the pool is left mid-way through a large frame when the
/// channel ends.
struct DieMidReply: ProcessJob {
    let announced: Int
    let sent: Int
    func run() async throws -> Bool {
        guard let channel = workerChannel() else { return false }
        var frame: [UInt8] = []
        Frame.appendLength(UInt64(1 + announced), to: &frame)
        frame.append(MessageKind.value.rawValue)
        frame += [UInt8](repeating: 7, count: sent)
        _ = ChannelIO.sendAll(channel, frame)
        kill(getpid(), SIGKILL)
        return false
    }
}

/// Returns `count` bytes made in the worker (the job itself is small).
struct RepeatBytes: ProcessJob {
    let count: Int
    func run() async throws -> Data { Data(repeating: 7, count: count) }
}
