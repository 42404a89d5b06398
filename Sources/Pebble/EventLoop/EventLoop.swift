// SPDX-License-Identifier: Apache-2.0
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import _PebbleShim

/// The process's one watcher of descriptors: an epoll set holding every pipe, socket and pidfd
/// that Pebble waits on (worker channels, captured output, command pipes and control sockets, the
/// zygote's control socket, pidfds), each as an ``EventRegistration``.
///
/// libdispatch watches only the epoll descriptor itself, with one read source that lives as long
/// as the process. That is the point: libdispatch's epoll backend crashes the process (SIGSEGV in
/// `_dispatch_event_loop_drain`, or SIGILL "Source finalized twice") when a read source is armed on
/// a pipe or socket whose other end closes, since it unregisters the source off its manager thread
/// while the manager handles the same hang-up. An epoll descriptor never hangs up, and nothing is
/// created or cancelled inside libdispatch per descriptor. Timers and signal sources stay Dispatch.
///
/// When the epoll descriptor is readable, the source's handler drains it without blocking
/// (`epoll_wait` with timeout 0), finds each event's registration by its token (index and
/// generation, never a pointer) and hands the event to the registration's queue.
final class EventLoop: Sendable {
    static let shared = EventLoop()

    /// The epoll descriptor (close-on-exec), closed only when a loop a test made ends.
    let descriptor: Int32
    private let queue = DispatchQueue(label: "pebble.event-loop")
    private let registrations = StateLock(EventTokenTable<EventRegistration>())
    // DispatchSourceRead is not Sendable in corelibs-dispatch; the source is created and resumed
    // here, then never touched again.
    nonisolated(unsafe) private let source: any DispatchSourceRead

    /// How many registrations are in the epoll set.
    var count: Int { registrations.withLock { $0.count } }

    init() {
        let descriptor = pebble_epoll_create()
        precondition(descriptor >= 0, "Pebble cannot create its epoll descriptor: \(String(cString: strerror(errno)))")
        self.descriptor = descriptor
        source = DispatchSource.makeReadSource(fileDescriptor: descriptor, queue: queue)
        source.setEventHandler { [weak self] in self?.drain() }
        source.setCancelHandler { close(descriptor) }
        source.resume()
    }

    /// Only a loop a test made ends: the shared one lives as long as the process.
    deinit { source.cancel() }

    /// Puts `registration` in the table and its descriptor in the epoll set; its token, or `nil`
    /// when the kernel refused the descriptor (then it is not in the table).
    func add(_ registration: EventRegistration) -> UInt64? {
        let token = registrations.withLock { $0.insert(registration) }
        if pebble_epoll_control(descriptor, Int32(PEBBLE_EPOLL_ADD), registration.fd, registration.interest.events, token) == 0 {
            return token
        }
        registrations.withLock { _ = $0.remove(token) }
        return nil
    }

    /// Re-arms a one-shot watch after its handler ran.
    func rearm(fd: Int32, events: UInt32, token: UInt64) {
        _ = pebble_epoll_control(descriptor, Int32(PEBBLE_EPOLL_MODIFY), fd, events, token)
    }

    /// Takes `fd` out of the epoll set and its token out of the table; the caller closes `fd` after.
    func remove(fd: Int32, token: UInt64) {
        _ = pebble_epoll_control(descriptor, Int32(PEBBLE_EPOLL_REMOVE), fd, 0, 0)
        registrations.withLock { _ = $0.remove(token) }
    }

    /// On `queue`: every ready event, to its registration's queue.
    private func drain() {
        let capacity = 64
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: capacity) { events in
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: capacity) { tokens in
                while true {
                    let count = Int(pebble_epoll_wait(descriptor, events.baseAddress!, tokens.baseAddress!, Int32(capacity), 0))
                    guard count > 0 else { return }
                    for index in 0..<count {
                        // A token removed meanwhile finds nothing: the event is dropped.
                        let token = tokens[index]
                        registrations.withLock { $0.value(for: token) }?.deliver()
                    }
                    if count < capacity { return }
                }
            }
        }
    }
}
