// SPDX-License-Identifier: Apache-2.0
import PebbleCodec

/// Encodes jobs into requests: the job's name and the job, which a ``JobHeader`` written at send
/// time makes into a job message.
enum JobEncoding {
    /// The request for `job`, checked against the pool's message limit. A `Data` or `[UInt8]` of
    /// at least ``Frame/externalThreshold`` bytes in the job is not copied: the request holds it,
    /// and it is sent from its own storage.
    static func request<J: ProcessJob>(_ job: J, limit: Int) throws -> ScatteredBytes {
        let name = try JobName.of(J.self)
        var head = Frame.nameField(name)
        var blocks: [BinaryExternalBlock] = []
        do {
            try BinaryEncoder().encode(job, into: &head, externalizingBlocksFrom: Frame.externalThreshold, blocks: &blocks)
        } catch {
            throw PebbleError(.encodingFailed, "could not encode the job \(J.self): \(error)")
        }
        let request = ScatteredBytes(head: head, blocks: blocks)
        guard request.count < limit else {
            throw PebbleError(
                .messageTooLarge, "the job \(J.self) encodes to \(request.count) bytes, over the pool's maxMessageSize of \(limit)")
        }
        return request
    }

    /// The body of a job message for `job`, without the frame header: used inside the hello.
    static func body(_ job: any ProcessJob) throws -> [UInt8] {
        func open<J: ProcessJob>(_ job: J) throws -> [UInt8] {
            var body = Frame.nameField(try JobName.of(J.self))
            try BinaryEncoder().encode(job, into: &body)
            return body
        }
        return try open(job)
    }
}
