// SPDX-License-Identifier: Apache-2.0

/// The head of a job message on a pool's task feed (one `SOCK_SEQPACKET` record): the kind, the
/// offering's slot and sequence on the task board, and flags. The request (job name and job,
/// encoded at `schedule`) follows in the same record, or, for a large one, on the channel of the
/// worker that takes the task, once it fetches it. The worker reads the head to take the task
/// (``TaskBoard``).
struct JobHeader: Equatable {
    static let size = 1 + 2 + 8 + 1

    /// The worker says when it takes the task (a ``MessageKind/started`` message): the pool
    /// starts the task's timeout then.
    static let announceTake: UInt8 = 1
    /// The request is not in the message: the worker that takes the task fetches it on its own
    /// channel (``MessageKind/fetch``, answered by ``MessageKind/request``). The fetch announces
    /// the take too.
    static let requestFollows: UInt8 = 2

    let slot: Int
    let sequence: UInt64
    var flags: UInt8 = 0

    /// Appends the header.
    func append(to bytes: inout [UInt8]) {
        bytes.append(MessageKind.job.rawValue)
        bytes.append(UInt8(truncatingIfNeeded: slot))
        bytes.append(UInt8(truncatingIfNeeded: slot >> 8))
        withUnsafeBytes(of: sequence.littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(flags)
    }

    /// Reads the header at the start of a job message; `nil` when it is not one.
    init?(message: UnsafeRawBufferPointer) {
        guard message.count >= Self.size, message[0] == MessageKind.job.rawValue else { return nil }
        slot = Int(message[1]) | Int(message[2]) << 8
        var sequence: UInt64 = 0
        for index in 0..<8 { sequence |= UInt64(message[3 + index]) << (8 * index) }
        self.sequence = sequence
        flags = message[11]
    }

    init(slot: Int, sequence: UInt64, flags: UInt8 = 0) {
        self.slot = slot
        self.sequence = sequence
        self.flags = flags
    }
}
