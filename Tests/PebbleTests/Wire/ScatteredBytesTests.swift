// SPDX-License-Identifier: Apache-2.0
import Foundation
import PebbleCodec
import Testing
import _PebbleShim

@testable import Pebble

/// Messages whose large values stay in their own storage: what is sent is exactly the bytes the
/// encoder would have written in one buffer.
@Suite struct ScatteredBytesTests {
    struct Payload: Codable, Equatable {
        var name = "payload"
        var first = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0) })
        var count = 3
        var second = [UInt8]((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
    }

    @Test func aFrameLeavesLargeValuesOutAndCountsThem() throws {
        let frame = try Frame.encoding(.value, Payload())
        #expect(frame.blocks.count == 2)
        #expect(frame.head.count < 200, "the payloads are not copied into the frame")
        let whole = try Frame.build(.value) { try BinaryEncoder().encode(Payload(), into: &$0) }
        #expect(frame.joined == whole)
        #expect(frame.count == whole.count)
        #expect(try BinaryDecoder().decode(Payload.self, from: frame.joined[(Frame.headerSize + 1)...]) == Payload())
        // Small values: one buffer, as before.
        let small = try Frame.encoding(.value, [1, 2, 3])
        #expect(small.blocks.isEmpty)
        #expect(small.head == (try Frame.build(.value) { try BinaryEncoder().encode([1, 2, 3], into: &$0) }))
    }

    /// More buffers than one sendmsg takes (IOV_MAX), with a prefix: the sender goes on where the
    /// last call stopped, and the reader gets every byte in order.
    @Test func manyBuffersAfterAPrefixArriveInOrder() throws {
        var head: [UInt8] = []
        var blocks: [BinaryExternalBlock] = []
        let values = (0..<1500).map { index in [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: 1 + index % 5) }
        try BinaryEncoder().encode(values, into: &head, externalizingBlocksFrom: 1, blocks: &blocks)
        let bytes = ScatteredBytes(head: head, blocks: blocks)
        #expect(bytes.withVectors { $0.count } > 1024, "more than IOV_MAX buffers")
        let prefix: [UInt8] = [9, 8, 7]
        let expected = prefix + bytes.joined
        #expect(expected.count == prefix.count + bytes.count)

        var ends: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0)
        defer { close(ends[1]) }
        let reader = ends[1]
        let received = UtilityTestBox<[UInt8]?>(nil)
        let done = UtilityTestSupport.startThread { [count = expected.count] in received.value = ChannelIO.readExactly(reader, count) }
        let sent = prefix.withUnsafeBytes { ChannelIO.sendAll(ends[0], bytes, after: $0) }
        close(ends[0])
        #expect(UtilityTestSupport.waitForEvent(done))
        #expect(sent)
        #expect(received.value == expected)
    }

    /// A large `Data` decoded from a mapped request is a view of the mapping; mutating it copies
    /// the pages it writes, so the memfd (the pool's bytes) never changes.
    @Test func aMappedRequestIsReadInPlaceAndNeverWrittenThrough() throws {
        let original = try BinaryEncoder().encode(Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 3) }))
        let fd = ScatteredBytes(original).withVectors { vectors in
            vectors.withUnsafeMutableBufferPointer { pebble_memfd_holding($0.baseAddress!, Int32($0.count)) }
        }
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(MappedRequest(descriptor: fd, limit: original.count - 1) == nil, "over the limit")
        var data = try {
            let mapped = try #require(MappedRequest(descriptor: fd, limit: original.count))
            #expect(mapped.count == original.count)
            return try BinaryDecoder().decode(Data.self, from: mapped.bytes, keepingAlive: mapped)
        }()
        #expect(data == Data(original.suffix(200_000)))
        for index in stride(from: 0, to: data.count, by: 4096) { data[data.startIndex + index] ^= 0xFF }
        let again = try #require(MappedRequest(descriptor: fd, limit: original.count))
        #expect(Array(again.bytes) == original)
        #expect(data != Data(original.suffix(200_000)))
    }
}
