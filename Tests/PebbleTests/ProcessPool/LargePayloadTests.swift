// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import Pebble
@testable import PebbleTestSupport

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

/// Returns `count` bytes made in the worker (the job itself is small).
struct RepeatBytes: ProcessJob {
    let count: Int
    func run() async throws -> Data { Data(repeating: 7, count: count) }
}
