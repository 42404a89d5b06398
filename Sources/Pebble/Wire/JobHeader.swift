// SPDX-License-Identifier: Apache-2.0

/// The head of a job message: the frame's length, the kind, and where the task sits on the
/// worker's claim board (its slot and sequence number). The pool writes it at send time, in front
/// of the request encoded at `schedule` (job name and job), so a request is never copied to be
/// sent; the worker reads it to take the task (``TaskClaims``).
struct JobHeader: Equatable {
    static let size = Frame.headerSize + 1 + 2 + 8
    /// Bytes of the body that are this header's, not the request's.
    static let bodyOverhead = size - Frame.headerSize

    let slot: Int
    let sequence: UInt64

    /// Appends the header of a job message whose request is `requestSize` bytes.
    func append(requestSize: Int, to bytes: inout [UInt8]) {
        Frame.appendLength(UInt64(Self.bodyOverhead + requestSize), to: &bytes)
        bytes.append(MessageKind.job.rawValue)
        bytes.append(UInt8(truncatingIfNeeded: slot))
        bytes.append(UInt8(truncatingIfNeeded: slot >> 8))
        withUnsafeBytes(of: sequence.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Reads the slot and sequence from a job message's body (after its kind byte); `nil` when
    /// the body is too short.
    init?(body: ArraySlice<UInt8>) {
        guard body.count >= 10 else { return nil }
        let start = body.startIndex
        slot = Int(body[start]) | Int(body[start + 1]) << 8
        var sequence: UInt64 = 0
        for index in 0..<8 { sequence |= UInt64(body[start + 2 + index]) << (8 * index) }
        self.sequence = sequence
    }

    init(slot: Int, sequence: UInt64) {
        self.slot = slot
        self.sequence = sequence
    }
}
