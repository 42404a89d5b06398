// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization
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
///
/// The shared loop starts when the first pool, command or exit watch needs it (``start()``): if the
/// process has no descriptor or thread left for it then, that call throws `.spawnFailed` and the
/// next one tries again, so running out of descriptors fails a request instead of the process.
final class EventLoop: Sendable {
    /// The process's loop, once ``start()`` made it.
    private static let running = Mutex<EventLoop?>(nil)

    /// Starts the process's loop unless it runs already. Every entry point that watches a
    /// descriptor (`ProcessPool`'s init, `Command`'s runs, `watchExit(of:)`) calls it first.
    @discardableResult
    static func start() throws(PebbleError) -> EventLoop {
        try running.withLock { (loop: inout EventLoop?) throws(PebbleError) -> EventLoop in
            if let loop { return loop }
            let started = try EventLoop()
            loop = started
            return started
        }
    }

    /// The process's loop. Only after ``start()`` succeeded: every path to a registration goes
    /// through an entry point that called it.
    static var shared: EventLoop {
        guard let loop = running.withLock({ $0 }) else { preconditionFailure("EventLoop.start() was not called") }
        return loop
    }

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

    /// A loop of its own (tests make some; the process's is ``start()``'s): its epoll set, its stop
    /// pipe and its thread, or `.spawnFailed` with nothing left open.
    init() throws(PebbleError) {
        let descriptor = pebble_epoll_create()
        guard descriptor >= 0 else { throw Self.failure("epoll_create1", errno) }
        var ends: [Int32] = [-1, -1]
        guard pebble_pipe_cloexec(&ends) == 0 else {
            let error = errno
            close(descriptor)
            throw Self.failure("pipe2", error)
        }
        _ = pebble_epoll_control(descriptor, Int32(PEBBLE_EPOLL_ADD), ends[0], UInt32(PEBBLE_EPOLL_IN), 0)
        let status = startDetachedThread { [table, stopRead = ends[0]] in
            Self.run(descriptor, table)
            close(stopRead)
            close(descriptor)
        }
        guard status == 0 else {
            for fd in [descriptor] + ends { close(fd) }
            throw Self.failure("pthread_create", status)
        }
        self.descriptor = descriptor
        stop = ends[1]
    }

    private static func failure(_ call: String, _ code: Int32) -> PebbleError {
        PebbleError(.spawnFailed, "Pebble cannot start its event loop: \(call) failed: \(String(cString: strerror(code)))")
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
