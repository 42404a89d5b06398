import _PebbleShim

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A pool's task feed: one `SOCK_SEQPACKET` socket pair. The pool sends job messages on one end;
/// every worker receives the other end with its hello and reads it whenever it is idle. Each
/// message goes whole to exactly one reader, in the order sent, so idle workers take the oldest
/// task first.
///
/// Job messages are posted under the pool's lock, in the order the machine offered them, and sent
/// by whoever flushes next: a flush takes everything posted so far under the send lock, so two
/// threads flushing at once never reorder messages. Sends never block: the machine keeps what is
/// offered and untaken well below the socket's buffer, and what does not fit stays posted for the
/// next flush. A request of ``ProcessPoolStateMachine/Settings/inlineLimit`` bytes or more is not
/// in its message: the message says it follows (``JobHeader/requestFollows``), and the worker that
/// takes the task fetches it on its own channel, where the pool writes it from where its parts
/// are (``RequestTransfer``): a large `Data` or `[UInt8]` of the job from its own storage, never
/// copied in user space.
final class TaskFeed: Sendable {
    /// The end the pool sends on, and the end every worker reads (passed with each hello); -1
    /// once closed. Sends hold this lock, so a descriptor is never closed under one.
    private let ends: StateLock<(send: Int32, worker: Int32)>
    private let inlineLimit: Int
    private let outbox = StateLock<[(header: JobHeader, request: ScatteredBytes)]>([])

    init(inlineLimit: Int) throws {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw PebbleError(.spawnFailed, "could not create the task feed: \(String(cString: strerror(errno)))")
        }
        ends = StateLock((fds[0], fds[1]))
        self.inlineLimit = inlineLimit
        var size: Int32 = 4 << 20
        _ = setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close() }

    /// Runs `body` with the workers' end (-1 once closed), which stays open meanwhile.
    func withWorkerEnd<R>(_ body: (Int32) -> R) -> R {
        ends.withLock { body($0.worker) }
    }

    /// Closes both ends (the pool is joined: no worker reads any more).
    func close() {
        ends.withLock { ends in
            if ends.send >= 0 { closeFileDescriptor(ends.send) }
            if ends.worker >= 0 { closeFileDescriptor(ends.worker) }
            ends = (-1, -1)
        }
    }

    /// Queues the job messages of `offers`, in order; ``flush()`` sends them.
    func post(_ offers: [ProcessPoolStateMachine.Offer]) {
        outbox.withLock { outbox in
            for offer in offers {
                // A fetch announces the take itself.
                let flags =
                    offer.task.request.count >= inlineLimit
                    ? JobHeader.requestFollows : offer.task.timeout == nil ? 0 : JobHeader.announceTake
                outbox.append((JobHeader(slot: offer.slot, sequence: offer.sequence, flags: flags), offer.task.request))
            }
        }
    }

    var hasPosted: Bool { outbox.withLock { !$0.isEmpty } }

    /// Sends what was posted, in order, without blocking; what the socket cannot take now stays
    /// posted, ahead of anything posted later.
    func flush() {
        ends.withLock { ends in
            let messages = outbox.withLock { outbox in
                defer { outbox.removeAll(keepingCapacity: true) }
                return outbox
            }
            guard !messages.isEmpty, ends.send >= 0 else { return }
            let sent = send(messages, on: ends.send)
            if sent < messages.count {
                outbox.withLock { $0.insert(contentsOf: messages[sent...], at: 0) }
            }
        }
    }

    /// Sends `messages`; returns how many went out.
    private func send(_ messages: [(header: JobHeader, request: ScatteredBytes)], on sendFD: Int32) -> Int {
        // Every message, header and inline request, is copied into one buffer: one allocation for
        // the batch, one sendmmsg for up to 64 messages.
        var buffer: [UInt8] = []
        var ranges: [(start: Int, end: Int)] = []
        ranges.reserveCapacity(messages.count)
        for (header, request) in messages {
            let start = buffer.count
            header.append(to: &buffer)
            if header.flags & JobHeader.requestFollows == 0 {
                // Blocks only in a request at least as large as `Frame.externalThreshold`, which is
                // no larger than the default inline limit: joined only under a larger limit.
                buffer += request.joined
            }
            ranges.append((start, buffer.count))
        }
        return buffer.withUnsafeBytes { bytes in
            let feed = ranges.map { range in
                pebble_feed_message(bytes: bytes.baseAddress! + range.start, length: range.end - range.start)
            }
            let sent = feed.withUnsafeBufferPointer { pebble_feed_send(sendFD, $0.baseAddress!, Int32($0.count)) }
            // A broken feed (cannot happen while the pool holds both ends) drops nothing silently:
            // the take check re-offers what no worker took.
            return max(0, Int(sent))
        }
    }
}
