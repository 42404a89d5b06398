// SPDX-License-Identifier: Apache-2.0
import Dispatch
import PebbleCodec

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

enum Frame {
    static let headerSize = 8

    /// A frame of `kind` with `body`, with its length header.
    static func make(_ kind: MessageKind, _ body: some Collection<UInt8>) -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(headerSize + 1 + body.count)
        appendLength(UInt64(1 + body.count), to: &frame)
        frame.append(kind.rawValue)
        frame.append(contentsOf: body)
        return frame
    }

    /// A frame of `kind` whose body `writeBody` appends in place (no copy of the body).
    static func build(
        _ kind: MessageKind, reserving capacity: Int = 64,
        _ writeBody: (inout [UInt8]) throws -> Void
    ) rethrows -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(headerSize + 1 + capacity)
        appendLength(0, to: &frame)
        frame.append(kind.rawValue)
        try writeBody(&frame)
        storeLength(UInt64(frame.count - headerSize), into: &frame)
        return frame
    }

    /// `Data` and `[UInt8]` values from this size on are sent from their own storage rather than
    /// copied into the message that carries them (``ScatteredBytes``). As large as the pool's
    /// default inline limit for requests (``ProcessPoolStateMachine/Settings/inlineLimit``), so a
    /// request with such a value always follows on the channel of the worker that takes it.
    static let externalThreshold = 32 * 1024

    /// A frame of `kind` whose body is `value` encoded, with every `Data` and `[UInt8]` of at
    /// least ``externalThreshold`` bytes left in its own storage.
    static func encoding(_ kind: MessageKind, _ value: some Encodable) throws -> ScatteredBytes {
        var blocks: [BinaryExternalBlock] = []
        var frame = try build(kind) {
            try BinaryEncoder().encode(value, into: &$0, externalizingBlocksFrom: externalThreshold, blocks: &blocks)
        }
        guard !blocks.isEmpty else { return ScatteredBytes(frame) }
        let total = blocks.reduce(frame.count) { $0 + $1.count }
        storeLength(UInt64(total - headerSize), into: &frame)
        return ScatteredBytes(head: frame, blocks: blocks)
    }

    static func appendLength(_ length: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: length.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Writes `length` into the header at the start of `frame`.
    static func storeLength(_ length: UInt64, into frame: inout [UInt8]) {
        withUnsafeBytes(of: length.littleEndian) { bytes in
            for index in 0..<headerSize { frame[index] = bytes[index] }
        }
    }

    static func readLength(_ bytes: UnsafeRawBufferPointer) -> Int {
        Int(clamping: UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self)))
    }

    /// A u16-length-prefixed string field followed by the rest.
    static func nameField(_ name: String) -> [UInt8] {
        let utf8 = Array(name.utf8)
        return [UInt8(utf8.count & 0xFF), UInt8(utf8.count >> 8)] + utf8
    }

    /// Splits `body` (after the kind byte) into a u16-length-prefixed name and the offset of the
    /// rest.
    static func splitName(_ body: UnsafeRawBufferPointer) -> (name: String, restStart: Int)? {
        guard body.count >= 2 else { return nil }
        let length = Int(body[0]) | Int(body[1]) << 8
        guard body.count >= 2 + length else { return nil }
        return (String(decoding: body[2..<2 + length], as: UTF8.self), 2 + length)
    }
}
