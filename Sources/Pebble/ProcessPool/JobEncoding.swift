// SPDX-License-Identifier: Apache-2.0
import PebbleCodec
/// Encodes jobs into request frames.
enum JobEncoding {
    /// The request frame for `job`, checked against the pool's message limit.
    static func request<J: ProcessJob>(_ job: J, limit: Int) throws -> [UInt8] {
        let name = try JobName.of(J.self)
        let frame: [UInt8]
        do {
            frame = try Frame.build(.job) { bytes in
                bytes += Frame.nameField(name)
                try BinaryEncoder().encode(job, into: &bytes)
            }
        } catch {
            throw PebbleError(.encodingFailed, "could not encode the job \(J.self): \(error)")
        }
        guard Frame.payloadSize(frame) < limit else {
            throw PebbleError(.messageTooLarge, "the job \(J.self) encodes to \(Frame.payloadSize(frame)) bytes, over the pool's maxMessageSize of \(limit)")
        }
        return frame
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
