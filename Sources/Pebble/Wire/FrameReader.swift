// SPDX-License-Identifier: Apache-2.0
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Collects bytes read from a channel and cuts them into frames, refusing any frame over `limit`.
///
/// It grows only with the bytes that actually arrive, never with the length a peer announces.
struct FrameReader {
    let limit: Int
    private var buffer: [UInt8] = []
    private var start = 0

    init(limit: Int) { self.limit = limit }

    struct TooLarge: Error { let announced: Int }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame body (kind byte first), or `nil` until more bytes arrive.
    mutating func nextFrame() throws -> ArraySlice<UInt8>? {
        guard buffer.count - start >= Frame.headerSize else { return nil }
        let length = buffer.withUnsafeBytes { Frame.readLength(UnsafeRawBufferPointer(rebasing: $0[start...])) }
        guard length >= 1 && length <= limit else { throw TooLarge(announced: length) }
        guard buffer.count - start - Frame.headerSize >= length else { return nil }
        let bodyStart = start + Frame.headerSize
        start = bodyStart + length
        let body = buffer[bodyStart..<start]
        if start == buffer.count {
            defer { buffer = []; start = 0 }
            return ArraySlice(body)
        }
        return body
    }
}
