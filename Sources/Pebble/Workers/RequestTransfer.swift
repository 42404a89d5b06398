// SPDX-License-Identifier: Apache-2.0
import Dispatch
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A large request on its way to the worker that fetched it: one ``MessageKind/request`` frame
/// written to the worker's channel from where the request's parts are (a large `Data` or
/// `[UInt8]` of the job from its own storage, ``ScatteredBytes``), without ever blocking. What the
/// socket takes goes at once; the rest goes as the socket drains, on write readiness from the
/// ``EventLoop`` (a watch on a duplicate of the channel's descriptor, since epoll holds the
/// channel itself for reads), on the worker's queue.
///
/// Runs on the worker's queue only. It ends when every byte went out, when the worker is gone
/// (its end is closed: the worker's exit fails the task), when the write fails otherwise
/// (`failed` is called: the pool stops the worker and fails the task), or at ``cancel()``. It
/// holds the request until then, and no longer.
final class RequestTransfer: Sendable {
    typealias Failure = @Sendable (PebbleError) -> Void

    private struct State {
        /// The request, until the transfer ends.
        var request: ScatteredBytes?
        var sent = 0
        var watch: EventRegistration?
    }

    private let fd: Int32
    private let queue: DispatchQueue
    /// The frame's header: its length, its kind and the offering's sequence number.
    private let head: [UInt8]
    private let total: Int
    private let failed: Failure
    private let state: StateLock<State>

    /// A transfer of `request`, the request of offering `sequence`, to the channel `fd` (which the
    /// caller keeps open while the transfer runs); call ``start()`` on `queue`.
    init(request: ScatteredBytes, sequence: UInt64, fd: Int32, queue: DispatchQueue, failed: @escaping Failure) {
        var head: [UInt8] = []
        head.reserveCapacity(Frame.headerSize + 9)
        Frame.appendLength(UInt64(1 + 8 + request.count), to: &head)
        head.append(MessageKind.request.rawValue)
        withUnsafeBytes(of: sequence.littleEndian) { head.append(contentsOf: $0) }
        self.head = head
        total = head.count + request.count
        self.fd = fd
        self.queue = queue
        self.failed = failed
        state = StateLock(State(request: request))
    }

    /// Sends what the socket takes now, and watches for room for the rest.
    func start() {
        guard write() else { return }
        let duplicate = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard duplicate >= 0 else { return fail(errno, "could not watch the worker's channel") }
        let watch = EventRegistration(fd: duplicate, interest: .writable, queue: queue)
        // The handler holds the transfer until the watch is cancelled, which every end does.
        watch.setEventHandler { [self] in _ = write() }
        watch.setCancelHandler { close(duplicate) }
        state.withLock { $0.watch = watch }
        watch.resume()
    }

    /// Ends the transfer (the worker is gone, or its channel closed); the request is released.
    func cancel() {
        let watch = state.withLock { state in
            state.request = nil
            defer { state.watch = nil }
            return state.watch
        }
        watch?.cancel()
    }

    /// Writes until the socket is full; `true` when bytes remain to be sent.
    private func write() -> Bool {
        let result = state.withLock { (state: inout State) -> (sent: Int, error: Int32)? in
            guard let request = state.request else { return nil }
            let result: (sent: Int, error: Int32) = head.withUnsafeBytes { head in
                request.withVectors { vectors in
                    vectors.insert(iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress!), iov_len: head.count), at: 0)
                    let sent = vectors.withUnsafeMutableBufferPointer {
                        pebble_send_vectors_nonblocking(fd, $0.baseAddress!, Int32($0.count), state.sent)
                    }
                    return (Int(sent), sent < 0 ? errno : 0)
                }
            }
            if result.sent > 0 { state.sent += result.sent }
            return result
        }
        guard let result else { return false }
        if result.sent < 0 {
            // EPIPE, ECONNRESET: the worker is gone, and its exit fails the task.
            if result.error == EPIPE || result.error == ECONNRESET {
                cancel()
            } else {
                fail(result.error, "could not write to the worker's channel")
            }
            return false
        }
        guard state.withLock({ $0.sent }) < total else {
            cancel()
            return false
        }
        return true
    }

    private func fail(_ error: Int32, _ what: String) {
        cancel()
        failed(
            PebbleError(.spawnFailed, "the pool could not send a job's request to its worker: \(what): \(String(cString: strerror(error)))")
        )
    }
}
