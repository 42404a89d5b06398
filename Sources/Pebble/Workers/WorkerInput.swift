import _PebbleShim

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The worker's reading end of its pool's task feed: each receive takes one whole job message, the
/// oldest the feed holds, and waits while the feed is empty (the kernel wakes one idle worker per
/// message). A request too large for a message follows on the worker's channel once the task is
/// taken (``JobHeader/requestFollows``), read by ``fetchedRequest(on:sequence:limit:)``. Used by
/// the worker loop's thread only.
///
/// An idle worker waits on its own watch of the feed (``pebble_feed_watch``), not in a blocking
/// receive: a blocking receive wakes the worker idle longest, so tasks one after another go round
/// the idle workers, each one to the worker whose buffers (its request buffer, and the pool's
/// reply buffer for it) are coldest in the caches. The watch wakes the idle worker registered
/// first, so one such worker keeps taking them while it is waiting (one still in its yield below
/// may lose a task to another), and a large payload's copies run on warm buffers (figures in
/// Benchmarks/README.md, "Design measurements").
final class WorkerInput {
    private let fd: Int32
    /// The watch of the feed; -1 when it could not be made (the receive then blocks).
    private let watch: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    /// The buffer of the last request that followed on the channel, kept for the next one (see
    /// ``fetchedRequest(on:sequence:limit:)``).
    private var spare: [UInt8] = []

    /// One job message: its header, and its request when it came inside the message.
    struct Message {
        let header: JobHeader
        let inline: ArraySlice<UInt8>
    }

    init(fd: Int32, capacity: Int = 64 * 1024) {
        self.fd = fd
        watch = pebble_feed_watch(fd)
        buffer = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        if watch >= 0 { close(watch) }
        buffer.deallocate()
    }

    /// The next job message; `nil` when the pool is gone or sent something that is not one.
    func next() -> Message? {
        // An empty feed is often refilled within microseconds: one yield lets the pool run first,
        // and saves this worker a sleep and a wake-up.
        var got = pebble_feed_receive(fd, buffer.baseAddress!, buffer.count, true)
        if got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
            sched_yield()
            got = pebble_feed_receive(fd, buffer.baseAddress!, buffer.count, watch >= 0)
        }
        // Idle: woken for a message, which another worker may take first; then wait again.
        while watch >= 0 && got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
            guard pebble_feed_wait(watch) == 0 else { return nil }
            got = pebble_feed_receive(fd, buffer.baseAddress!, buffer.count, true)
        }
        guard got > 0, let header = JobHeader(message: UnsafeRawBufferPointer(rebasing: buffer[..<got])) else { return nil }
        if header.flags & JobHeader.requestFollows != 0 { return Message(header: header, inline: []) }
        let request = Array(UnsafeRawBufferPointer(rebasing: buffer[JobHeader.size..<got]))
        return Message(header: header, inline: request[...])
    }

    /// The request of offering `sequence`, which the pool writes to `channel` once asked
    /// (``MessageKind/fetch``); `nil` when the channel ends first, carries something else, or
    /// announces a request over `limit`.
    ///
    /// Read in place into the last request's buffer when nothing holds it any more (no `Data`
    /// decoded from it as a view is alive: ``FrameReader/isUnique(_:)``), so a steady flow of
    /// large requests allocates nothing and faults no page in; else into a new one. A buffer of
    /// up to ``FrameReader/reuseLimit`` bytes is kept.
    func fetchedRequest(on channel: Int32, sequence: UInt64, limit: Int) -> ArraySlice<UInt8>? {
        guard let count = ChannelIO.readRequestHead(channel, sequence: sequence, limit: limit) else { return nil }
        if !(spare.count >= count && spare.count <= 2 * count && FrameReader.isUnique(&spare)) {
            spare = []
            // Not zero-filled first: every byte is read before the request is used.
            spare = [UInt8](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
        }
        let filled = spare.withUnsafeMutableBytes {
            ChannelIO.readFully(channel, into: UnsafeMutableRawBufferPointer(rebasing: $0[..<count]), from: 0)
        }
        guard filled == count else { return nil }
        defer { if spare.count > FrameReader.reuseLimit { spare = [] } }
        return spare[..<count]
    }
}
