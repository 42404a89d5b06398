// SPDX-License-Identifier: Apache-2.0
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import _PebbleShim

/// A worker's channel descriptor, closed exactly once, never while a send is using it; and the
/// outbox of job messages waiting to be sent on it.
///
/// Job messages are posted under the pool's lock, in the order the pool decided, and sent by
/// whoever flushes next: the flush takes the descriptor's lock, then everything posted so far, so
/// two threads flushing at once can never reorder messages (the worker runs them in this order),
/// and everything posted together goes out in one `sendmsg`.
final class WorkerChannel: Sendable {
    private let descriptor: StateLock<Int32>
    /// Requests with their headers, in the order posted.
    private let outbox = StateLock<[(header: JobHeader, request: [UInt8])]>([])
    /// The descriptor for reads on the worker's queue, where the close also happens.
    let fd: Int32

    init(fd: Int32) {
        self.fd = fd
        descriptor = StateLock(fd)
    }

    func send(_ frame: [UInt8]) -> Bool {
        descriptor.withLock { fd in fd >= 0 && ChannelIO.sendAll(fd, frame) }
    }

    /// Sends `frame` with `fds` attached (SCM_RIGHTS); the caller closes its copies.
    func send(_ frame: [UInt8], passing fds: [Int32]) -> Bool {
        descriptor.withLock { fd in fd >= 0 && ChannelIO.sendAll(fd, frame, passing: fds) }
    }

    /// Queues a job message; ``flush()`` sends it.
    func post(_ header: JobHeader, _ request: [UInt8]) {
        outbox.withLock { $0.append((header, request)) }
    }

    /// Sends every posted job message, in order: small ones copied together into one buffer and
    /// sent with one `sendmsg`; a large request straight from its own storage, behind the buffer.
    /// `false` when the worker is gone (its exit then fails or gives back the tasks).
    @discardableResult
    func flush() -> Bool {
        descriptor.withLock { fd in
            let messages = outbox.withLock { outbox in
                defer { outbox.removeAll(keepingCapacity: true) }
                return outbox
            }
            guard fd >= 0 else { return false }
            var buffer: [UInt8] = []
            for (header, request) in messages {
                header.append(requestSize: request.count, to: &buffer)
                if request.count < ChannelIO.copyLimit {
                    buffer += request
                } else {
                    guard ChannelIO.sendAll(fd, buffer, then: request) else { return false }
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            return buffer.isEmpty || ChannelIO.sendAll(fd, buffer)
        }
    }

    func close() {
        descriptor.withLock { fd in
            if fd >= 0 { closeDescriptor(fd) }
            fd = -1
        }
    }
}

/// `close(2)`, named so that ``WorkerChannel/close()`` can call it without a module prefix (Glibc
/// or Musl).
private func closeDescriptor(_ fd: Int32) {
    close(fd)
}
