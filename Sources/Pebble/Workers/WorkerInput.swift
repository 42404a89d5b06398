import _PebbleShim

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The worker's reading end of its pool's task feed: each receive takes one whole job message, the
/// oldest the feed holds, and blocks while the feed is empty (the kernel wakes one idle worker per
/// message). A request too large for a message arrives as a memfd, mapped once the task is taken.
/// Used by the worker loop's thread only.
final class WorkerInput {
    private let fd: Int32
    /// The largest request accepted; a larger one ends the input.
    let limit: Int
    private let buffer: UnsafeMutableRawBufferPointer

    /// One job message: its header and where its request is.
    struct Message {
        let header: JobHeader
        /// The request when it came inside the message.
        let inline: ArraySlice<UInt8>
        /// The memfd holding the request, when it came attached (closed by ``mappedRequest(of:)``).
        let descriptor: Int32
    }

    init(fd: Int32, limit: Int, capacity: Int = 64 * 1024) {
        self.fd = fd
        self.limit = limit
        buffer = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// The next job message; `nil` when the pool is gone or sent something that is not one.
    func next() -> Message? {
        var passed: Int32 = -1
        // An empty feed is often refilled within microseconds: one yield lets the pool run first,
        // and saves this worker a sleep and a wake-up.
        var got = pebble_feed_receive(fd, buffer.baseAddress!, buffer.count, &passed, true)
        if got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
            sched_yield()
            got = pebble_feed_receive(fd, buffer.baseAddress!, buffer.count, &passed, false)
        }
        guard got > 0, let header = JobHeader(message: UnsafeRawBufferPointer(rebasing: buffer[..<got])) else {
            if passed >= 0 { close(passed) }
            return nil
        }
        if header.flags & JobHeader.requestInDescriptor != 0 {
            guard passed >= 0 else { return nil }
            return Message(header: header, inline: [], descriptor: passed)
        }
        if passed >= 0 { close(passed) }
        let request = Array(UnsafeRawBufferPointer(rebasing: buffer[JobHeader.size..<got]))
        return Message(header: header, inline: request[...], descriptor: -1)
    }

    /// The request of `message`, which came in a memfd, mapped (the memfd is closed); `nil` when
    /// it cannot be mapped or is over the limit.
    func mappedRequest(of message: Message) -> MappedRequest? {
        defer { close(message.descriptor) }
        return MappedRequest(descriptor: message.descriptor, limit: limit)
    }
}
