import Foundation
import Synchronization
import _PebbleShim

/// What a worker process reports to its pool. Called on the worker's serial queue.
protocol WorkerEvents: AnyObject, Sendable {
    func worker(_ worker: WorkerProcess, sent kind: MessageKind, body: ArraySlice<UInt8>)
    func worker(_ worker: WorkerProcess, brokeProtocol error: PebbleError)
    func worker(_ worker: WorkerProcess, exitedWith status: Int32)
}

/// The parent's handle on one worker process: its channel, a read source on the channel, and a
/// read source on its pidfd that fires once when it exits. Everything that reads the channel,
/// reaps the process or closes a descriptor runs on the worker's own serial queue.
final class WorkerProcess: Sendable {
    let pid: pid_t
    let queue: DispatchQueue
    private let channel: Channel
    private let pidfd: Int32
    private let reader: Mutex<FrameReader>
    /// Set under the lock when the process is reaped: no signal is sent to its pid after that.
    private let reaped = Mutex(false)
    // DispatchSource protocols are not Sendable in corelibs-dispatch. These are set once in init,
    // and only resumed and cancelled afterwards, which Dispatch allows from any thread.
    nonisolated(unsafe) private let readSource: any DispatchSourceRead
    nonisolated(unsafe) private let exitSource: any DispatchSourceRead
    /// The receive buffer, used only on `queue`, which serializes every access.
    nonisolated(unsafe) private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)

    init(_ spawned: SpawnedWorker, messageLimit: Int, events: any WorkerEvents) {
        pid = spawned.pid
        pidfd = spawned.pidfd
        queue = DispatchQueue(label: "pebble.worker-\(spawned.pid)")
        channel = Channel(fd: spawned.channel)
        reader = Mutex(FrameReader(limit: messageLimit))
        readSource = DispatchSource.makeReadSource(fileDescriptor: spawned.channel, queue: queue)
        exitSource = DispatchSource.makeReadSource(fileDescriptor: spawned.pidfd, queue: queue)
        // The handlers hold the pool's core strongly: a pool lives on while it has workers, even
        // when the user dropped it, so every worker is still reaped and every future completed.
        // Cancelling the sources at exit releases the handlers and breaks the cycle.
        readSource.setEventHandler { [weak self] in self?.drainChannel(events) }
        readSource.setCancelHandler { [channel] in channel.close() }
        exitSource.setEventHandler { [weak self] in self?.handleExit(events) }
        exitSource.setCancelHandler { [pidfd] in close(pidfd) }
    }

    deinit { scratch.deallocate() }

    func start() {
        readSource.resume()
        exitSource.resume()
    }

    /// Sends a frame on the channel; `false` when the worker is gone.
    @discardableResult
    func send(_ frame: [UInt8]) -> Bool { channel.send(frame) }

    /// Closes the channel: an idle worker reads end-of-file and exits.
    func retire() { readSource.cancel() }

    /// Signals the worker's whole process group (the job's own children too), unless already reaped.
    func signalGroup(_ signal: Int32) {
        reaped.withLock { reaped in
            if !reaped { killpg(pid, signal) }
        }
    }

    /// Reads everything the channel has and hands each complete frame to `events`.
    private func drainChannel(_ events: any WorkerEvents) {
        while true {
            // MSG_DONTWAIT: the descriptor stays blocking for sends, reads here never block the queue.
            let count = recv(channel.fd, scratch.baseAddress, scratch.count, Int32(MSG_DONTWAIT))
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) { readSource.cancel() }
                return
            }
            reader.withLock { $0.append(UnsafeRawBufferPointer(rebasing: scratch[..<count])) }
            do {
                while let frame = try reader.withLock({ try $0.nextFrame() }) {
                    guard let kind = MessageKind(rawValue: frame[frame.startIndex]) else {
                        return breakProtocol(events, "the worker sent a message of unknown kind \(frame[frame.startIndex])")
                    }
                    events.worker(self, sent: kind, body: frame.dropFirst())
                }
            } catch let error as FrameReader.TooLarge {
                return breakProtocol(events, "the worker announced a \(error.announced)-byte message, over the pool's maxMessageSize",
                                     code: error.announced > 0 ? .messageTooLarge : .protocolViolation)
            } catch {
                return breakProtocol(events, "\(error)")
            }
        }
    }

    private func breakProtocol(_ events: any WorkerEvents, _ message: String, code: PebbleError.Code = .protocolViolation) {
        readSource.cancel()
        events.worker(self, brokeProtocol: PebbleError(code, "worker \(pid): \(message); it was stopped"))
    }

    /// The pidfd fired: the process has exited. Frames it sent before dying are handled first, then
    /// what is left of its process group is killed and the process is reaped, exactly once.
    private func handleExit(_ events: any WorkerEvents) {
        if !readSource.isCancelled { drainChannel(events) }
        var status: Int32 = 0
        reaped.withLock { reaped in
            // The group leader is a zombie until waitpid, so its pgid cannot have been reused yet.
            killpg(pid, SIGKILL)
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            reaped = true
        }
        exitSource.cancel()
        readSource.cancel()
        events.worker(self, exitedWith: status)
    }
}

/// A worker's channel descriptor, closed exactly once, never while a send is using it.
private final class Channel: Sendable {
    private let descriptor: Mutex<Int32>
    /// The descriptor for reads on the worker's queue, where the close also happens.
    let fd: Int32

    init(fd: Int32) {
        self.fd = fd
        descriptor = Mutex(fd)
    }

    func send(_ frame: [UInt8]) -> Bool {
        descriptor.withLock { fd in fd >= 0 && ChannelIO.sendAll(fd, frame) }
    }

    func close() {
        descriptor.withLock { fd in
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
    }
}

extension ProcessExpired {
    /// The error for a worker that died with wait status `status`.
    init(pid: pid_t, waitStatus status: Int32) {
        let signal = status & 0x7F
        if signal == 0 {
            self.init(pid: pid, exitCode: (status >> 8) & 0xFF, signal: nil)
        } else {
            self.init(pid: pid, exitCode: nil, signal: signal)
        }
    }
}
