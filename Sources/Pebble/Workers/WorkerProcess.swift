// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The parent's handle on one worker process: its channel watched by the ``EventLoop``, and the
/// watch on its exit. Everything that reads the channel, reaps the process or closes a descriptor
/// runs on the worker's own serial queue, so a descriptor is never closed under a reader.
///
/// A worker is either this process's child (posix_spawn) or the zygote's (the zygote reaps it and
/// reports its status); its ``ExitWatcher`` watches the exit and reaps it when it is ours to reap.
final class WorkerProcess: Sendable {
    let pid: pid_t
    let queue: DispatchQueue
    let origin: SpawnedWorker.Origin
    private let channel: WorkerChannel
    private let exit: ExitWatcher
    /// What is still open or unreported: the channel, the pidfd, the exit. At zero the worker is gone.
    private let outstanding = StateLock(3)
    private let reader: StateLock<FrameReader>
    private let events: any WorkerEvents
    /// For a worker this process posix_spawned: this process's peak resident set (KiB) sampled
    /// just after the spawn, an upper bound of the peak exec carried into the worker's
    /// `ru_maxrss`. `nil` for a forked (zygote) worker, whose `ru_maxrss` starts from the small
    /// zygote's.
    private let carriedPeakKiB: Int?
    /// With ``WorkerOutput/capture``: the pipes the worker's stdout and stderr go to.
    let output: WorkerOutputCapture?
    /// The channel's watch; set once in init, then only resumed and cancelled (from any thread).
    private let readSource: EventRegistration
    /// The request being written to the worker, which fetched it (one at a time: a worker
    /// fetches a request only for the task it took); ended when the channel closes.
    private let transfer = StateLock<RequestTransfer?>(nil)
    /// The receive buffer for small frames (large ones are read into their own), used only on
    /// `queue`, which serializes every access.
    nonisolated(unsafe) private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)

    /// The handlers hold `events` (the pool's core) strongly: a pool lives on while it has workers,
    /// even when the user dropped it, so every worker is still reaped and every future completed.
    /// Cancelling the sources when the worker is finished releases the handlers.
    init(
        _ spawned: SpawnedWorker, messageLimit: Int, events: any WorkerEvents, output: WorkerOutputCapture? = nil,
        target: DispatchQueue? = nil
    ) {
        pid = spawned.pid
        self.output = output
        origin = spawned.origin
        queue = DispatchQueue(label: "pebble.worker-\(spawned.pid)", target: target)
        exit = ExitWatcher(
            pid: spawned.pid, pidfd: spawned.pidfd, origin: spawned.origin == .child ? .child : .zygote,
            queue: queue, killsGroupAtExit: true)
        channel = WorkerChannel(fd: spawned.channel)
        reader = StateLock(FrameReader(limit: messageLimit))
        self.events = events
        if spawned.origin == .child {
            var own = rusage()
            carriedPeakKiB = getrusage(RUSAGE_SELF.rawValue, &own) == 0 ? Int(own.ru_maxrss) : Int.max
        } else {
            carriedPeakKiB = nil
        }
        readSource = EventRegistration(fd: spawned.channel, interest: .readable, queue: queue)
        readSource.setEventHandler { [weak self] in self?.drainChannel() }
        // Cancel handlers hold the worker strongly: they are its last step, and the registration
        // releases them once they have run.
        readSource.setCancelHandler { [self, channel] in
            transfer.withLock { transfer in
                defer { transfer = nil }
                return transfer
            }?.cancel()
            channel.close()
            release()
        }
        // The watcher holds these (and so the worker) until it has reported the exit and closed the pidfd.
        exit.setHandlers(exited: { [self] status in finish(status, usage: exit.reapedUsage) }, closed: { [self] in release() })
    }

    deinit {
        scratch.deallocate()
    }

    func start() {
        readSource.resume()
        exit.start()
    }

    /// Sends a frame on the channel; `false` when the worker is gone.
    @discardableResult
    func send(_ frame: [UInt8]) -> Bool { channel.send(frame) }

    /// Writes `request`, the request of offering `sequence` that the worker fetched, to its
    /// channel without blocking (``RequestTransfer``). On the worker's queue, where the channel's
    /// messages are handled and where it is closed.
    func sendRequest(_ request: ScatteredBytes, sequence: UInt64) {
        guard !readSource.isCancelled else { return }
        let started = RequestTransfer(request: request, sequence: sequence, fd: channel.fd, queue: queue) {
            [weak self] error in
            guard let self else { return }
            events.worker(self, couldNotSendRequestOf: sequence, error: error)
        }
        // The worker reads nothing else while it waits for its request: a transfer still running
        // (a job that wrote a fetch on its channel itself) is ended, never interleaved.
        transfer.withLock { transfer in
            defer { transfer = started }
            return transfer
        }?.cancel()
        started.start()
    }

    /// Sends the hello with `shared` attached (the pool's task feed and board), then the worker's
    /// ends of its output pipes when the pool captures output.
    func sendHello(_ hello: [UInt8], passing shared: [Int32]) {
        guard let output else { return _ = channel.send(hello, passing: shared) }
        if !output.passWriteEnds({ channel.send(hello, passing: shared + $0) }) { channel.send(hello, passing: shared) }
    }

    /// The error for the task this worker was running when it died with wait status `status`,
    /// with the end of the task's stderr when output is captured.
    func expired(waitStatus status: Int32?) -> ProcessExpired {
        ProcessExpired(pid: pid, waitStatus: status, diagnostics: output?.diagnostics())
    }

    /// Closes the channel: an idle worker reads end-of-file and exits.
    func retire() { readSource.cancel() }

    /// Signals the worker. A child of ours is signalled with its whole process group (the job's own
    /// children too) as long as it is unreaped, so its group id cannot have been reused. A zygote's
    /// worker is signalled through its pidfd, which cannot reach a recycled pid; the zygote kills
    /// the rest of its group when it reaps it.
    func signal(_ signal: Int32) { exit.signal(signal) }

    /// One of the channel, the pidfd and the exit is done with; after the last, the worker is gone.
    private func release() {
        let remaining = outstanding.withLock { count in
            count -= 1
            return count
        }
        guard remaining == 0 else { return }
        if let output {
            output.stopReading { [self] in events.workerGone(self) }
        } else {
            events.workerGone(self)
        }
    }

    /// The zygote reaped this worker (`status`, with its rusage `usage`), or the zygote itself
    /// died (`nil`): then watch the pidfd, and ask the kernel for the status at exit.
    func zygoteReported(_ status: Int32?, usage: pebble_rusage?) {
        queue.async { [self] in
            if let status { finish(status, usage: usage) } else { exit.watchPidfd() }
        }
    }

    /// Handles the frames the worker sent before dying, then closes everything, exactly once.
    /// `usage`: the worker's own rusage when it was reaped, `nil` when unknown.
    private func finish(_ status: Int32?, usage: pebble_rusage?) {
        if !readSource.isCancelled { drainChannel() }
        readSource.cancel()
        exit.finish()
        events.worker(
            self, exitedWith: status,
            usage: usage.map { UsageReport.deadWorkerLifetime($0, carriedPeakKiB: carriedPeakKiB) })
        release()
    }

    /// Reads everything the channel has and hands each complete frame to `events`.
    private func drainChannel() {
        while true {
            // MSG_DONTWAIT: the descriptor stays blocking for sends; reads here never block the queue.
            // The reader picks the destination: the scratch buffer, or a large frame's own buffer.
            let (count, error) = reader.withLock { reader in
                let count = reader.receive(scratch: scratch) { recv(channel.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                return (count, count < 0 ? errno : 0)
            }
            if count < 0 && error == EINTR { continue }
            if count <= 0 {
                if count == 0 || (error != EAGAIN && error != EWOULDBLOCK) { readSource.cancel() }
                return
            }
            // Replies are handed over together (one lock and one dispatch for a read's worth),
            // any other message in its place among them.
            var replies: [(kind: MessageKind, body: ArraySlice<UInt8>)] = []
            defer { if !replies.isEmpty { events.worker(self, answered: replies) } }
            do {
                while let frame = try reader.withLock({ try $0.nextFrame() }) {
                    guard let kind = MessageKind(rawValue: frame[frame.startIndex]) else {
                        return breakProtocol("the worker sent a message of unknown kind \(frame[frame.startIndex])")
                    }
                    if kind.travelsWithReplies {
                        replies.append((kind, frame.dropFirst()))
                        continue
                    }
                    if !replies.isEmpty { events.worker(self, answered: replies) }
                    replies.removeAll()
                    events.worker(self, sent: kind, body: frame.dropFirst())
                }
            } catch let error as FrameReader.TooLarge {
                return breakProtocol(
                    "the worker announced a \(error.announced)-byte message, over the pool's maxMessageSize",
                    code: error.announced > 0 ? .messageTooLarge : .protocolViolation)
            } catch {
                return breakProtocol("\(error)")
            }
        }
    }

    private func breakProtocol(_ message: String, code: PebbleError.Code = .protocolViolation) {
        readSource.cancel()
        events.worker(self, brokeProtocol: PebbleError(code, "worker \(pid): \(message); it was stopped"))
    }
}
