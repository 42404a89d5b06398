// SPDX-License-Identifier: Apache-2.0
import PebbleCodec

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Bytes to send whose large `Data` and `[UInt8]` values stay in their own storage: `head` with
/// each of `blocks` inserted at its position (``BinaryExternalBlock``), sent with one `sendmsg` or
/// `writev` of several buffers, so a large payload is never copied into an outgoing message. The
/// blocks hold their values, so the bytes stay valid for as long as this value lives.
///
/// ```swift
/// let reply = try Frame.encoding(.value, output)   // a 10 MB Data stays where it is
/// reply.withVectors { pebble_send_frames(fd, $0.baseAddress!, Int32($0.count)) }
/// ```
struct ScatteredBytes: Sendable {
    /// Everything but the blocks' bytes.
    private(set) var head: [UInt8]
    private(set) var blocks: [BinaryExternalBlock]
    /// The number of bytes, the blocks' included.
    let count: Int

    /// Bytes in one buffer.
    init(_ bytes: [UInt8]) {
        head = bytes
        blocks = []
        count = bytes.count
    }

    init(head: [UInt8], blocks: [BinaryExternalBlock]) {
        self.head = head
        self.blocks = blocks
        count = blocks.reduce(head.count) { $0 + $1.count }
    }

    /// The bytes in one buffer: `head` itself when there are no blocks, else a copy.
    var joined: [UInt8] {
        blocks.isEmpty ? head : BinaryExternalBlock.joined(head, blocks)
    }

    /// Calls `body` with the buffers that hold the bytes, in order (empty parts left out), valid
    /// during the call. The iovec array is `body`'s to change (a sender advances it past what
    /// went out).
    func withVectors<R>(_ body: (inout [iovec]) throws -> R) rethrows -> R {
        try head.withUnsafeBytes { head in
            var vectors: [iovec] = []
            vectors.reserveCapacity(2 * blocks.count + 1)
            return try collect(head, from: 0, block: 0, into: &vectors, body)
        }
    }

    /// Adds the head's bytes up to block `index` and that block's bytes, then the rest, nesting one
    /// `withUnsafeBytes` per block so that every buffer stays valid until `body` returns.
    private func collect<R>(
        _ head: UnsafeRawBufferPointer, from cursor: Int, block index: Int, into vectors: inout [iovec],
        _ body: (inout [iovec]) throws -> R
    ) rethrows -> R {
        guard index < blocks.count else {
            Self.append(UnsafeRawBufferPointer(rebasing: head[cursor...]), to: &vectors)
            return try body(&vectors)
        }
        let block = blocks[index]
        Self.append(UnsafeRawBufferPointer(rebasing: head[cursor..<block.position]), to: &vectors)
        return try block.withUnsafeBytes { bytes in
            Self.append(bytes, to: &vectors)
            return try collect(head, from: block.position, block: index + 1, into: &vectors, body)
        }
    }

    private static func append(_ bytes: UnsafeRawBufferPointer, to vectors: inout [iovec]) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: base), iov_len: bytes.count))
    }
}
