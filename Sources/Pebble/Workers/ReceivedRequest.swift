// SPDX-License-Identifier: Apache-2.0

/// A job request as a worker received it: its bytes, and what keeps them alive (the array they
/// were read into). A large `Data` decoded from them is a view that holds `owner`.
struct ReceivedRequest: @unchecked Sendable {
    // @unchecked Sendable: `bytes` points into `owner`, which this value holds, and nothing
    // writes to them; it crosses into the worker's inline executor and back on the same thread.
    let bytes: UnsafeRawBufferPointer
    let owner: any Sendable

    /// `bytes`, which `owner` keeps alive and unchanged.
    init(_ bytes: UnsafeRawBufferPointer, owner: any Sendable) {
        self.bytes = bytes
        self.owner = owner
    }

    /// The bytes from `offset` on, with the same owner.
    func dropFirst(_ offset: Int) -> ReceivedRequest {
        ReceivedRequest(UnsafeRawBufferPointer(rebasing: bytes[offset...]), owner: owner)
    }
}
