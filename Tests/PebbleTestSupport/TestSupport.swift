// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Synchronization
import _PebbleShim

@testable import Pebble

/// A gate tasks wait on until the test opens it.
final class Gate: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let opened = StateLock(false)
    func wait() {
        semaphore.wait()
        semaphore.signal()
    }
    func open() {
        if opened.withLock({ o in
            defer { o = true }
            return !o
        }) {
            semaphore.signal()
        }
    }
}

/// Counts events and lets a test wait for a number of them, without polling.
final class EventCounter: Sendable {
    private let count = StateLock(0)
    private let semaphore = DispatchSemaphore(value: 0)
    func record() {
        count.withLock { $0 += 1 }
        semaphore.signal()
    }
    var value: Int { count.withLock { $0 } }
    /// Waits until `n` events were recorded; false after `seconds`.
    func wait(for n: Int = 1, seconds: Double = 10) -> Bool {
        for _ in 0..<n where semaphore.wait(timeout: .now() + seconds) == .timedOut { return false }
        return true
    }
}

struct TestFailure: Error, Equatable, Codable {
    let reason: String
}

/// A thread-safe box for test values.
final class Box<T: Sendable>: Sendable {
    let storage: StateLock<T>
    init(_ value: T) { storage = StateLock(value) }
    var value: T {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
    func update(_ body: (inout T) -> Void) { storage.withLock { body(&$0) } }
}

func pebbleCode(_ error: (any Error)?) -> PebbleError.Code? { (error as? PebbleError)?.code }

/// A clock for a spin's watch that moves `step` nanoseconds each time it is read, whatever the
/// machine does: a loaded machine that takes the test's CPU away must not look like a watch
/// that lost it (``SpinWatch``, ``WaitSpin``).
func steppingClock(step: UInt64) -> @Sendable () -> UInt64 {
    let time = Atomic<UInt64>(0)
    return { time.wrappingAdd(step, ordering: .relaxed).newValue }
}

/// The error `body` throws, or nil.
func errorOf<T>(_ body: () throws -> T) -> (any Error)? {
    do {
        _ = try body()
        return nil
    } catch { return error }
}

/// `join` from a detached task in async tests.
func joinBlocking(_ pool: ThreadPool, timeout: Duration? = nil) throws { try pool.join(timeout: timeout) }

/// Waits for process `pid` to exit, on its pidfd (no polling). `true` if it is gone within `seconds`.
func waitForExit(_ pid: pid_t, seconds: Double) -> Bool {
    let fd = pebble_pidfd_open(pid)
    guard fd >= 0 else { return errno == ESRCH }
    defer { close(fd) }
    var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let deadline = DispatchTime.now() + seconds
    while true {
        let left = Int64(deadline.uptimeNanoseconds) - Int64(DispatchTime.now().uptimeNanoseconds)
        let ready = poll(&poller, 1, Int32(max(left, 0) / 1_000_000))
        // A signal handled meanwhile (a Dispatch signal source's) cuts the wait short: wait the rest.
        if ready < 0 && errno == EINTR && left > 0 { continue }
        return ready == 1
    }
}

/// A named pipe jobs write a byte to when they are ready; the test reads the bytes (no polling).
final class ReadyFifo {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("pebble-ready-\(UUID())").path
    let fd: Int32

    init() throws {
        guard mkfifo(path, 0o600) == 0 else { throw PebbleError(.invalidArgument, "mkfifo failed") }
        fd = open(path, O_RDWR)
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Reads `count` bytes; false when they do not come within `seconds`.
    func waitForReady(_ count: Int, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var received = 0
        while received < count {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(max(0, deadline.timeIntervalSinceNow) * 1000)) == 1 else { return false }
            var buffer = [UInt8](repeating: 0, count: 64)
            let got = read(fd, &buffer, min(64, count - received))
            if got > 0 { received += got }
        }
        return true
    }

    /// In a job: writes `value` to the fifo at `path`, in one pipe write (atomic up to `PIPE_BUF`).
    static func send<Value: BitwiseCopyable>(_ value: Value, to path: String) {
        let fd = open(path, O_WRONLY)
        var value = value
        _ = write(fd, &value, MemoryLayout<Value>.size)
        close(fd)
    }

    /// In a job: blocks until the test writes a byte to the fifo at `path`.
    static func awaitByte(at path: String) {
        let fd = open(path, O_RDONLY)
        var byte: UInt8 = 0
        _ = read(fd, &byte, 1)
        close(fd)
    }
}

extension ProcessPool.StartMethod {
    /// Every start method, for tests that run under each.
    static let all: [ProcessPool.StartMethod] = [.zygote, .spawn]

    /// `"zygote"` or `"spawn"`, for test names and scenario lines.
    var label: String { self == .zygote ? "zygote" : "spawn" }
}

/// Starts the zygote (with one task of a `.zygote` pool) if it is not running; returns its pid, or
/// `nil` when no zygote could be had (workers are then spawned directly).
@discardableResult
func startZygote() throws -> pid_t? {
    if let zygote = Zygote.shared.pid { return zygote }
    let pool = try ProcessPool(maxWorkers: 1, startMethod: .zygote)
    _ = try pool.schedule(AddOne(x: 1)).result(timeout: .seconds(60))
    pool.close()
    try pool.join(timeout: .seconds(60))
    return Zygote.shared.pid
}

/// Kills the zygote (started first if it is not running) with SIGKILL and waits for it to exit.
/// Returns the pid it had, or `nil` when no zygote could be had.
@discardableResult
func killZygote() throws -> pid_t? {
    guard let zygote = try startZygote() else { return nil }
    kill(zygote, SIGKILL)
    _ = waitForExit(zygote, seconds: 10)
    return zygote
}
