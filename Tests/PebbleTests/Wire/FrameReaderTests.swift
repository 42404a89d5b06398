// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import Pebble

/// A channel's byte stream, read in chunks of at most `chunk` bytes, as a socket delivers it.
private struct Stream {
    var bytes: [UInt8]
    var offset = 0
    let chunk: Int
    /// The size of each buffer a read was asked to fill.
    var readSizes: [Int] = []

    init(_ bytes: [UInt8], chunk: Int) {
        self.bytes = bytes
        self.chunk = chunk
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        readSizes.append(buffer.count)
        let count = Swift.min(buffer.count, chunk, bytes.count - offset)
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + count])) }
        offset += count
        return count
    }
}

/// A frame: an 8-byte little-endian length, then `body` (kind byte first).
private func frame(_ body: [UInt8]) -> [UInt8] {
    withUnsafeBytes(of: UInt64(body.count).littleEndian) { Array($0) } + body
}

/// A body of `count` bytes, kind byte first (a block of a prime length repeated: quick to make).
private func body(_ count: Int, seed: Int) -> [UInt8] {
    let block = (0..<4093).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8 &+ seed) }
    var bytes: [UInt8] = [0x56]
    bytes.reserveCapacity(count)
    while bytes.count < count { bytes += block.prefix(count - bytes.count) }
    return bytes
}

/// Reads `stream` to its end through a reader and returns every frame body.
private func readAll(_ stream: inout Stream, reader: inout FrameReader, scratchSize: Int = 4096) throws -> [[UInt8]] {
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: scratchSize, alignment: 16)
    defer { scratch.deallocate() }
    var frames: [[UInt8]] = []
    while true {
        while let next = try reader.nextFrame() { frames.append(Array(next)) }
        guard reader.receive(scratch: scratch, { stream.read(into: $0) }) > 0 else { return frames }
    }
}

@Suite(.timeLimit(.minutes(1)))
struct FrameReaderTests {
    @Test(arguments: [1, 3, 8, 9, 1000, 100_000])
    func framesSurviveAnyChunking(_ chunk: Int) throws {
        // One frame just over the in-place threshold; a larger one only for the larger chunks
        // (byte by byte it would only take long, under the sanitizers above all).
        var bodies = [
            body(1, seed: 0), body(20, seed: 1), body(5000, seed: 2), body(FrameReader.directThreshold + 10, seed: 3),
            body(2, seed: 4), body(9, seed: 6)
        ]
        if chunk >= 1000 { bodies.insert(body(200_000, seed: 5), at: 5) }
        var stream = Stream(bodies.flatMap(frame), chunk: chunk)
        var reader = FrameReader(limit: 1 << 20)
        #expect(try readAll(&stream, reader: &reader) == bodies)
    }

    @Test func aLargeFrameIsReadInPlace() throws {
        let large = body(1 << 20, seed: 7)
        let after = body(30, seed: 8)
        var stream = Stream(frame(large) + frame(after), chunk: 100_000)
        var reader = FrameReader(limit: 1 << 22)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { scratch.deallocate() }
        #expect(reader.receive(scratch: scratch) { stream.read(into: $0) } == 4096)
        #expect(try reader.nextFrame() == nil)
        // From now on each read goes straight into the frame's buffer: asked for exactly the rest.
        var received: ArraySlice<UInt8>?
        while received == nil {
            let remaining = large.count + Frame.headerSize - stream.offset
            #expect(reader.receive(scratch: scratch) { stream.read(into: $0) } > 0)
            #expect(stream.readSizes.last == remaining)
            received = try reader.nextFrame()
        }
        #expect(received?.startIndex == 0)
        #expect(received.map(Array.init) == large)
        // The bytes after it come through the scratch buffer again.
        #expect(try readAll(&stream, reader: &reader) == [after])
        #expect(stream.readSizes.last == 4096)
    }

    @Test func aFrameOverTheExactLimitGrowsWithWhatArrives() throws {
        let large = body(300_000, seed: 9)
        var stream = Stream(frame(large) + frame(body(3, seed: 1)), chunk: 10_000)
        var reader = FrameReader(limit: 1 << 20, exactAllocationLimit: 100_000)
        #expect(try readAll(&stream, reader: &reader) == [large, body(3, seed: 1)])
        // Room is offered up to the exact limit, then never more than what has arrived.
        #expect(stream.readSizes.allSatisfy { $0 <= 100_000 })
        #expect(stream.readSizes.contains { $0 == 100_000 })
    }

    @Test func anAnnouncedLengthOverTheLimitIsRefusedBeforeAnyAllocation() throws {
        var reader = FrameReader(limit: 1 << 20)
        let header = withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Array($0) } + [0x56]
        header.withUnsafeBytes { reader.append($0) }
        #expect(throws: FrameReader.TooLarge.self) { try reader.nextFrame() }
        var zero = FrameReader(limit: 1 << 20)
        [UInt8](repeating: 0, count: 8).withUnsafeBytes { zero.append($0) }
        #expect(throws: FrameReader.TooLarge.self) { try zero.nextFrame() }
    }

    @Test func aPeerThatStopsMidFrameHandsOutNothing() throws {
        var stream = Stream(Array(frame(body(500_000, seed: 2)).prefix(300_000)), chunk: 65_536)
        var reader = FrameReader(limit: 1 << 20)
        #expect(try readAll(&stream, reader: &reader).isEmpty)
    }

    @Test func aLargeFrameBufferIsReusedOnceNothingHoldsIt() throws {
        let first = body(300_000, seed: 1)
        let second = body(300_000, seed: 2)
        let third = body(290_000, seed: 3)
        var stream = Stream(frame(first) + frame(second) + frame(third), chunk: 50_000)
        var reader = FrameReader(limit: 1 << 20)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 16)
        defer { scratch.deallocate() }
        func next() throws -> ArraySlice<UInt8> {
            while true {
                if let frame = try reader.nextFrame() { return frame }
                #expect(reader.receive(scratch: scratch) { stream.read(into: $0) } > 0)
            }
        }
        let address: (ArraySlice<UInt8>) -> UnsafeRawPointer? = { $0.withUnsafeBytes { $0.baseAddress } }
        var held: ArraySlice<UInt8>? = try next()
        let firstAddress = held.map(address) ?? nil
        #expect(held.map(Array.init) == first)
        // Still held: the next frame gets a buffer of its own and leaves the first one alone.
        let received = try next()
        #expect(Array(received) == second)
        #expect(address(received) != firstAddress)
        #expect(held.map(Array.init) == first)
        held = nil
        // Nothing holds the second frame's buffer once `received` is gone: the third reuses it.
        let secondAddress = address(received)
        _ = consume received
        let third3 = try next()
        #expect(Array(third3) == third)
        #expect(third3.count == third.count && third3.startIndex == 0)
        #expect(address(third3) == secondAddress)
    }

    @Test func uniquenessProbe() {
        // Probed outside #expect, which keeps copies of what it evaluates.
        var array = [UInt8](repeating: 3, count: 1000)
        let alone = FrameReader.isUnique(&array)
        let copy = array
        let shared = FrameReader.isUnique(&array)
        var empty: [UInt8] = []
        let emptyIsUnique = FrameReader.isUnique(&empty)
        #expect(alone)
        #expect(!shared)
        #expect(copy.count == 1000)
        #expect(!emptyIsUnique)
    }
}
