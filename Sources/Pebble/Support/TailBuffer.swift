// SPDX-License-Identifier: Apache-2.0

/// The last `capacity` bytes appended to it: a bounded tail of a stream.
struct TailBuffer {
    let capacity: Int
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) {
        self.capacity = capacity
        bytes.reserveCapacity(capacity)
    }

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        if chunk.count >= capacity {
            bytes.removeAll(keepingCapacity: true)
            bytes.append(contentsOf: chunk[(chunk.count - capacity)...])
            return
        }
        let overflow = bytes.count + chunk.count - capacity
        if overflow > 0 { bytes.removeFirst(overflow) }
        bytes.append(contentsOf: chunk)
    }

    mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    /// The tail as UTF-8 text (invalid sequences replaced), without a character cut in two at its
    /// start; `nil` when empty.
    var text: String? {
        let start = bytes.firstIndex { $0 & 0xC0 != 0x80 } ?? bytes.endIndex
        guard start < bytes.endIndex else { return nil }
        return String(decoding: bytes[start...], as: UTF8.self)
    }
}
