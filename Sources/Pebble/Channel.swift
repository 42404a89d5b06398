import Foundation

/// The messages on a worker's channel. Every message is a frame: an 8-byte little-endian body length,
/// then the body, whose first byte is one of these kinds.
enum MessageKind: UInt8 {
    // Parent to worker.
    /// u64 max message size, then an optional initializer job (u16 name length, name, job).
    case hello = 0x48            // "H"
    /// u16 name length, mangled job type name, the job in the binary format (BinaryFormat.swift).
    case job = 0x4A              // "J"
    // Worker to parent.
    /// Started (and initialized); ready for a job.
    case ready = 0x52            // "R"
    /// The initializer threw: UTF-8 message.
    case initializerFailed = 0x49 // "I"
    /// The job's output in the binary format.
    case value = 0x56            // "V"
    /// An ``EncodedError`` the job threw, in the binary format.
    case error = 0x46            // "F"
    /// The job could not be decoded in the worker: UTF-8 message.
    case decodingFailed = 0x44   // "D"
    /// The output could not be encoded in the worker: UTF-8 message.
    case encodingFailed = 0x58   // "X"
    /// The output is larger than the pool's max message size: UTF-8 message.
    case tooLarge = 0x54         // "T"
}

enum Frame {
    static let headerSize = 8

    /// A frame of `kind` with `body`, with its length header.
    static func make(_ kind: MessageKind, _ body: some Collection<UInt8>) -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(headerSize + 1 + body.count)
        appendLength(UInt64(1 + body.count), to: &frame)
        frame.append(kind.rawValue)
        frame.append(contentsOf: body)
        return frame
    }

    /// A frame of `kind` whose body `writeBody` appends in place (no copy of the body).
    static func build(_ kind: MessageKind, reserving capacity: Int = 64,
                      _ writeBody: (inout [UInt8]) throws -> Void) rethrows -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(headerSize + 1 + capacity)
        appendLength(0, to: &frame)
        frame.append(kind.rawValue)
        try writeBody(&frame)
        let length = UInt64(frame.count - headerSize).littleEndian
        withUnsafeBytes(of: length) { bytes in
            for index in 0..<headerSize { frame[index] = bytes[index] }
        }
        return frame
    }

    /// The size of a frame's body without its kind byte.
    static func payloadSize(_ frame: [UInt8]) -> Int { frame.count - headerSize - 1 }

    static func appendLength(_ length: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: length.littleEndian) { bytes.append(contentsOf: $0) }
    }

    static func readLength(_ bytes: UnsafeRawBufferPointer) -> Int {
        Int(clamping: UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self)))
    }

    /// A u16-length-prefixed string field followed by the rest.
    static func nameField(_ name: String) -> [UInt8] {
        let utf8 = Array(name.utf8)
        return [UInt8(utf8.count & 0xFF), UInt8(utf8.count >> 8)] + utf8
    }

    /// Splits `body` (after the kind byte) into a u16-length-prefixed name and the rest.
    static func splitName(_ body: ArraySlice<UInt8>) -> (name: String, rest: ArraySlice<UInt8>)? {
        guard body.count >= 2 else { return nil }
        let length = Int(body[body.startIndex]) | Int(body[body.startIndex + 1]) << 8
        let nameStart = body.startIndex + 2
        guard body.count >= 2 + length else { return nil }
        return (String(decoding: body[nameStart..<nameStart + length], as: UTF8.self), body[(nameStart + length)...])
    }
}

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

/// Blocking channel I/O, shared by the worker and the parent's send path.
enum ChannelIO {
    /// Sends every byte; `false` when the peer is gone. MSG_NOSIGNAL: a dead peer never raises
    /// SIGPIPE, and the process's SIGPIPE disposition is left alone.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let sent = send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                if sent < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += sent
            }
            return true
        }
    }

    /// Reads exactly `count` bytes; `nil` at end of file or on error.
    static func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        guard count > 0 else { return [] }
        var complete = false
        // Not zero-filled first: a large job is read straight into its buffer.
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var offset = 0
            while offset < count {
                let got = read(fd, buffer.baseAddress! + offset, count - offset)
                if got < 0 && errno == EINTR { continue }
                if got <= 0 { break }
                offset += got
            }
            initialized = offset
            complete = offset == count
        }
        return complete ? bytes : nil
    }

    /// Reads one frame body; `nil` at end of file, on error, or for a frame over `limit`.
    static func readFrame(_ fd: Int32, limit: Int) -> [UInt8]? {
        guard let header = readExactly(fd, Frame.headerSize) else { return nil }
        let length = header.withUnsafeBytes(Frame.readLength)
        guard length >= 1 && length <= limit else { return nil }
        return readExactly(fd, length)
    }
}
