// SPDX-License-Identifier: Apache-2.0
import Dispatch

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
        let length = UInt64(frame.count - headerSize).littleEndian
        withUnsafeBytes(of: length) { bytes in
            for index in 0..<headerSize { frame[index] = bytes[index] }
        }
        return frame
    }

    /// The size of a frame's body without its kind byte.
    static func payloadSize(_ frame: [UInt8]) -> Int { frame.count - headerSize - 1 }

    static func appendLength(_ length: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: length.littleEndian) { bytes.append(contentsOf: $0) }
    }

    static func readLength(_ bytes: UnsafeRawBufferPointer) -> Int {
        Int(clamping: UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self)))
    }

    /// A u16-length-prefixed string field followed by the rest.
    static func nameField(_ name: String) -> [UInt8] {
        let utf8 = Array(name.utf8)
        return [UInt8(utf8.count & 0xFF), UInt8(utf8.count >> 8)] + utf8
    }

    /// Splits `body` (after the kind byte) into a u16-length-prefixed name and the rest.
    static func splitName(_ body: ArraySlice<UInt8>) -> (name: String, rest: ArraySlice<UInt8>)? {
        guard body.count >= 2 else { return nil }
        let length = Int(body[body.startIndex]) | Int(body[body.startIndex + 1]) << 8
        let nameStart = body.startIndex + 2
        guard body.count >= 2 + length else { return nil }
        return (String(decoding: body[nameStart..<nameStart + length], as: UTF8.self), body[(nameStart + length)...])
    }
}
