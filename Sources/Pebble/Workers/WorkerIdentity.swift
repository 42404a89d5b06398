// SPDX-License-Identifier: Apache-2.0

/// What the hello tells one worker about itself: its index on the pool's task board (written into
/// the words of the tasks it takes) and how many tasks it may take before it exits (`maxTasks`,
/// 0 for no limit), so that it never takes one more than that.
struct WorkerIdentity: Equatable {
    static let encodedSize = 12

    let index: Int
    let maxTasks: Int

    func encode(into bytes: inout [UInt8]) {
        withUnsafeBytes(of: UInt32(index).littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(maxTasks).littleEndian) { bytes.append(contentsOf: $0) }
    }

    init(index: Int, maxTasks: Int) {
        self.index = index
        self.maxTasks = maxTasks
    }

    /// Reads an identity from exactly ``encodedSize`` bytes.
    init?(decoding bytes: ArraySlice<UInt8>) {
        guard bytes.count == Self.encodedSize else { return nil }
        var values: [UInt64] = [0, 0]
        for (offset, byte) in bytes.enumerated() {
            if offset < 4 { values[0] |= UInt64(byte) << (8 * offset) } else { values[1] |= UInt64(byte) << (8 * (offset - 4)) }
        }
        index = Int(values[0])
        maxTasks = Int(truncatingIfNeeded: values[1])
    }
}
