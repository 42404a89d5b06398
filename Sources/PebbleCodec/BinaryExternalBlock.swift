// SPDX-License-Identifier: Apache-2.0
import Foundation

/// A large `Data` or `[UInt8]` that ``BinaryEncoder/encode(_:into:externalizingBlocksFrom:blocks:)``
/// left out of its output, so it can be sent from its own storage (`writev`) instead of being
/// copied into the frame: the complete encoding is the output with each block's bytes inserted
/// at its `position`. It holds the value, so its bytes stay valid as long as the block lives.
///
/// ```swift
/// var frame: [UInt8] = header
/// var blocks: [BinaryExternalBlock] = []
/// try BinaryEncoder().encode(job, into: &frame, externalizingBlocksFrom: 64 * 1024, blocks: &blocks)
/// // send frame[..<blocks[0].position], blocks[0], frame[blocks[0].position...] with one writev
/// ```
package struct BinaryExternalBlock: Sendable {
    enum Storage: Sendable {
        case data(Data)
        case bytes([UInt8])
    }

    /// Where the block's bytes belong in the output: after `output[..<position]`.
    package let position: Int
    let storage: Storage

    init(position: Int, _ storage: Storage) {
        self.position = position
        self.storage = storage
    }

    /// The number of bytes.
    package var count: Int {
        switch storage {
        case .data(let data): return data.count
        case .bytes(let bytes): return bytes.count
        }
    }

    /// Calls `body` with the block's bytes, valid during the call (and, in practice, for as long
    /// as the block lives: they are the storage of the value it holds).
    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        switch storage {
        case .data(let data): return try data.withUnsafeBytes(body)
        case .bytes(let bytes): return try bytes.withUnsafeBytes(body)
        }
    }

    /// The complete encoding: `output` with every block inserted at its position (tests, and
    /// senders that cannot send several buffers at once).
    package static func joined(_ output: [UInt8], _ blocks: [BinaryExternalBlock]) -> [UInt8] {
        var joined: [UInt8] = []
        joined.reserveCapacity(output.count + blocks.reduce(0) { $0 + $1.count })
        var cursor = 0
        for block in blocks {
            joined.append(contentsOf: output[cursor..<block.position])
            block.withUnsafeBytes { joined.append(contentsOf: $0) }
            cursor = block.position
        }
        joined.append(contentsOf: output[cursor...])
        return joined
    }
}
