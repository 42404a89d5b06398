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

    /// A large request is written to a worker's channel without blocking, from where its parts
    /// are, continuing as the reader drains the socket; the worker side reads the whole frame,
    /// and a request for another offering, or over the limit, is refused.
    @Test func aRequestTransferDeliversEveryByteToTheFetchingSide() throws {
        try EventLoop.start()
        let payload = Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 12) })
        var head: [UInt8] = [1, 2, 3]
        var blocks: [BinaryExternalBlock] = []
        try BinaryEncoder().encode(payload, into: &head, externalizingBlocksFrom: 1024, blocks: &blocks)
        let request = ScatteredBytes(head: head, blocks: blocks)
        for (sequence, limit, expectIntact) in [(UInt64(7), request.count, true), (8, request.count - 1, false)] {
            var ends: [Int32] = [-1, -1]
            #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0)
            let received = UtilityTestBox<[UInt8]?>(nil)
            let done = UtilityTestSupport.startThread { [reader = ends[1]] in
                received.value = ChannelIO.readRequestHead(reader, sequence: sequence, limit: limit).flatMap {
                    ChannelIO.readExactly(reader, $0)
                }
                close(reader)
            }
            let queue = DispatchQueue(label: "transfer")
            let failures = UtilityTestBox<[PebbleError]>([])
            let transfer = RequestTransfer(request: request, sequence: sequence, fd: ends[0], queue: queue) { failures.value.append($0) }
            queue.sync { transfer.start() }
            #expect(UtilityTestSupport.waitForEvent(done))
            queue.sync { transfer.cancel() }
            close(ends[0])
            #expect(failures.value.isEmpty)
            #expect(received.value == (expectIntact ? request.joined : nil))
        }
    }
}
