// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The worker's reading end of its channel: one `read` takes whatever the channel holds (a whole
/// window of job messages, often) into one buffer, which is then cut into frames. A frame larger
/// than the buffer is read straight into an array of its announced size, once that size passed the
/// limit check. Used by the worker loop's thread only.
final class WorkerInput {
    private let fd: Int32
    /// The largest frame body accepted; larger ones end the input.
    var limit: Int
    private let buffer: UnsafeMutableRawBufferPointer
    /// The unread bytes are `buffer[start..<end]`.
    private var start = 0
    private var end = 0

    init(fd: Int32, limit: Int, capacity: Int = 64 * 1024) {
        self.fd = fd
        self.limit = limit
        buffer = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// Whether a whole frame is already buffered: the next ``next()`` will not read.
    var hasFrame: Bool {
        guard let length = bufferedLength else { return false }
        return end - start - Frame.headerSize >= length
    }

    /// The next frame's body (its kind byte first); `nil` at end of file, on a read error, or for
    /// a frame over `limit`.
    func next() -> [UInt8]? {
        while end - start < Frame.headerSize {
            guard fill() else { return nil }
        }
        let length = bufferedLength!
        guard length >= 1 && length <= limit else { return nil }
        guard Frame.headerSize + length <= buffer.count else { return readLarge(length) }
        while end - start - Frame.headerSize < length {
            guard fill() else { return nil }
        }
        let bodyStart = start + Frame.headerSize
        start = bodyStart + length
        return Array(UnsafeRawBufferPointer(rebasing: buffer[bodyStart..<start]))
    }

    private var bufferedLength: Int? {
        guard end - start >= Frame.headerSize else { return nil }
        return Frame.readLength(UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
    }

    /// Moves the unread bytes to the front, then reads as much as fits; `false` at end of file.
    private func fill() -> Bool {
        if start > 0 {
            if end > start { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: end - start) }
            end -= start
            start = 0
        }
        while true {
            let got = read(fd, buffer.baseAddress! + end, buffer.count - end)
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { return false }
            end += got
            return true
        }
    }

    /// A frame too large for the buffer: what is buffered of it, then the rest read in place.
    private func readLarge(_ length: Int) -> [UInt8]? {
        let buffered = end - start - Frame.headerSize
        var complete = false
        let body = [UInt8](unsafeUninitializedCapacity: length) { body, initialized in
            let destination = UnsafeMutableRawBufferPointer(body)
            destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[(start + Frame.headerSize)..<end]))
            initialized = ChannelIO.readFully(fd, into: destination, from: buffered)
            complete = initialized == length
        }
        start = 0
        end = 0
        return complete ? body : nil
    }
}
