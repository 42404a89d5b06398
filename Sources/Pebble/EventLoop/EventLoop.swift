// SPDX-License-Identifier: Apache-2.0
import Dispatch
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process's one watcher of descriptors: an epoll set holding every pipe, socket and pidfd
/// that Pebble waits on (worker channels, captured output, command pipes and control sockets, the
/// zygote's control socket, pidfds), each as an ``EventRegistration``.
///
/// libdispatch watches none of them. Its epoll backend crashes the process (SIGSEGV in
/// `_dispatch_event_loop_drain`, or SIGILL "Source finalized twice") when a read source is armed on
/// a pipe or socket whose other end closes, since it unregisters the source off its manager thread
/// while the manager handles the same hang-up. Timers and signal sources stay Dispatch.
///
/// One thread of the loop's own blocks in `epoll_wait`, finds each event's registration by its
/// token (index and generation, never a pointer) and hands the event to the registration's queue.
/// That is one hop from the kernel to the handler's queue, as with a Dispatch source; watching the
/// epoll descriptor with one Dispatch read source instead costs a second hop (the source's queue,
/// then the handler's), which measurably slows a process round trip (the benchmark's M2-process).
final class EventLoop: Sendable {
    static let shared = EventLoop()

    /// The registrations by token; shared with the loop's thread.
    final class Table: Sendable {
        let registrations = StateLock(EventTokenTable<EventRegistration>())
    }

    /// The epoll descriptor (close-on-exec), closed only when a loop a test made ends.
    let descriptor: Int32
    private let table = Table()
    /// The write end of the pipe that stops the thread (token 0 in the epoll set).
    private let stop: Int32

    /// How many registrations are in the epoll set.
    var count: Int { table.registrations.withLock { $0.count } }

    init() {
        let descriptor = pebble_epoll_create()
        var ends: [Int32] = [-1, -1]
        guard descriptor >= 0, pebble_pipe_cloexec(&ends) == 0 else {
            preconditionFailure("Pebble cannot create its epoll descriptor: \(String(cString: strerror(errno)))")
        }
        self.descriptor = descriptor
        stop = ends[1]
        _ = pebble_epoll_control(descriptor, Int32(PEBBLE_EPOLL_ADD), ends[0], UInt32(PEBBLE_EPOLL_IN), 0)
        let status = startDetachedThread { [table, stopRead = ends[0]] in
            Self.run(descriptor, table)
            close(stopRead)
            close(descriptor)
        }
        precondition(status == 0, "Pebble cannot start its event loop thread: \(String(cString: strerror(status)))")
    }

    /// Only a loop a test made ends: the shared one lives as long as the process.
    deinit {
        var byte: UInt8 = 1
        _ = write(stop, &byte, 1)
        close(stop)
    }

    /// Puts `registration` in the table and its descriptor in the epoll set; its token, or `nil`
    /// when the kernel refused the descriptor (then it is not in the table).
    func add(_ registration: EventRegistration) -> UInt64? {
        let token = table.registrations.withLock { $0.insert(registration) }
        if pebble_epoll_control(descriptor, Int32(PEBBLE_EPOLL_ADD), registration.fd, registration.interest.events, token) == 0 {
            return token
        }
        table.registrations.withLock { _ = $0.remove(token) }
        return nil
    }

    /// Re-arms a one-shot watch after its handler ran.
    func rearm(fd: Int32, events: UInt32, token: UInt64) {
        _ = pebble_epoll_control(descriptor, Int32(PEBBLE_EPOLL_MODIFY), fd, events, token)
    }

    /// Takes `fd` out of the epoll set and its token out of the table; the caller closes `fd` after.
    func remove(fd: Int32, token: UInt64) {
        _ = pebble_epoll_control(descriptor, Int32(PEBBLE_EPOLL_REMOVE), fd, 0, 0)
        table.registrations.withLock { _ = $0.remove(token) }
    }

    /// The loop's thread: every event to its registration's queue, until the stop token 0.
    private static func run(_ descriptor: Int32, _ table: Table) {
        let capacity = 64
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: capacity) { events in
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: capacity) { tokens in
                while true {
                    let count = Int(pebble_epoll_wait(descriptor, events.baseAddress!, tokens.baseAddress!, Int32(capacity), -1))
                    for index in 0..<max(count, 0) {
                        let token = tokens[index]
                        if token == 0 { return }
                        // A token removed meanwhile finds nothing: the event is dropped.
                        table.registrations.withLock { $0.value(for: token) }?.deliver()
                    }
                }
            }
        }
    }
}
