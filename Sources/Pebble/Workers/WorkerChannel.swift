// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A worker's channel descriptor, closed exactly once, never while a send is using it. Jobs do not
/// travel here but on the pool's task feed (``TaskFeed``); the channel carries the hello, the
/// large requests the worker fetches (written by a ``RequestTransfer``, not through this type), and
/// the worker's messages back.
final class WorkerChannel: Sendable {
    private let descriptor: StateLock<Int32>
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
    @discardableResult
    func send(_ frame: [UInt8], passing fds: [Int32]) -> Bool {
        descriptor.withLock { fd in fd >= 0 && ChannelIO.sendAll(fd, frame, passing: fds) }
    }

    func close() {
        descriptor.withLock { fd in
            if fd >= 0 { closeFileDescriptor(fd) }
            fd = -1
        }
    }
}
