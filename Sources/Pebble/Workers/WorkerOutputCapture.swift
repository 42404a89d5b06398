// SPDX-License-Identifier: Apache-2.0
import Dispatch
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The pool's side of ``WorkerOutput/capture`` for one worker: two pipes, the worker's stdout and
/// stderr, each watched by the ``EventLoop`` and read as soon as bytes arrive, so a worker never waits on
/// a full pipe for longer than the pool takes to schedule a read.
///
/// Who holds which end: the pool creates both pipes close-on-exec, sends the write ends to the
/// worker with its hello (SCM_RIGHTS on the channel, so the zygote never sees them) and closes its
/// own copies right after; the worker moves them onto its descriptors 1 and 2. The pool keeps only
/// the read ends (non-blocking), closed when the worker is gone.
///
/// Memory is bounded whatever the worker writes: stdout is read into a 64 KiB buffer and dropped;
/// of stderr only the last ``diagnosticsCapacity`` bytes written since the current task started are
/// kept, read through a 16 KiB buffer. That is about 84 KiB per worker, plus the kernel's two pipe
/// buffers (64 KiB each).
final class WorkerOutputCapture: Sendable {
    /// How much of the end of a task's stderr ``ProcessExpired/diagnostics`` keeps.
    static let diagnosticsCapacity = 4096

    private struct StandardError {
        /// The read end; -1 once closed. Read only under the lock, so it is never read once closed.
        var fd: Int32
        var tail = TailBuffer(capacity: WorkerOutputCapture.diagnosticsCapacity)
    }

    private let standardError: StateLock<StandardError>
    /// The worker's ends, held until they are passed with the hello (or the capture stops reading).
    private let writeEnds: StateLock<[Int32]>
    private let queue = DispatchQueue(label: "pebble.worker-output")
    /// Left by each watch's cancel handler, once its read end is closed.
    private let closed = DispatchGroup()
    /// The read ends' watches: created in init, then only resumed and cancelled (from any thread).
    private let outputSource: EventRegistration
    private let errorSource: EventRegistration
    /// Where stdout is read to: used only by `outputSource`'s handler, which runs on `queue`.
    nonisolated(unsafe) private let outputScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    /// Where stderr is read to: used only under `standardError`'s lock.
    nonisolated(unsafe) private let errorScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)

    /// A capture with new pipes, its read ends watched; `nil` when the pipes cannot be created
    /// (out of descriptors): the worker then writes to `/dev/null`.
    static func open() -> WorkerOutputCapture? {
        guard let output = makePipe() else { return nil }
        guard let error = makePipe() else {
            close(output.read)
            close(output.write)
            return nil
        }
        return WorkerOutputCapture(output: output, error: error)
    }

    /// A pipe, both ends close-on-exec, the read end non-blocking (the write end stays blocking).
    private static func makePipe() -> (read: Int32, write: Int32)? {
        var ends: [Int32] = [-1, -1]
        guard pebble_capture_pipe(&ends) == 0 else { return nil }
        return (ends[0], ends[1])
    }

    private init(output: (read: Int32, write: Int32), error: (read: Int32, write: Int32)) {
        standardError = StateLock(StandardError(fd: error.read))
        writeEnds = StateLock([output.write, error.write])
        outputSource = EventRegistration(fd: output.read, interest: .readable, queue: queue)
        errorSource = EventRegistration(fd: error.read, interest: .readable, queue: queue)
        outputSource.setEventHandler { [weak self] in self?.readOutput(output.read) }
        // Cancel handlers hold the capture strongly: the registrations release them once they have run.
        outputSource.setCancelHandler { [self] in
            close(output.read)
            outputScratch.deallocate()
            closed.leave()
        }
        errorSource.setEventHandler { [weak self] in self?.readError() }
        errorSource.setCancelHandler { [self] in
            standardError.withLock { state in
                close(state.fd)
                state.fd = -1
            }
            errorScratch.deallocate()
            closed.leave()
        }
        closed.enter()
        closed.enter()
        outputSource.resume()
        errorSource.resume()
    }

    /// Calls `send` with the worker's ends (stdout's, then stderr's), then closes them here.
    @discardableResult
    func passWriteEnds(_ send: ([Int32]) -> Bool) -> Bool {
        let ends = writeEnds.withLock { ends in
            defer { ends = [] }
            return ends
        }
        defer { for fd in ends { close(fd) } }
        return !ends.isEmpty && send(ends)
    }

    /// A task is about to be sent: what the worker wrote before belongs to earlier tasks. Whatever
    /// it wrote before it sent its last outcome is already in the pipe, so reading what is there
    /// and then forgetting the tail leaves exactly this task's stderr to come.
    func taskStarting() {
        standardError.withLock { state in
            _ = readAvailable(&state)
            state.tail.removeAll()
        }
    }

    /// The tail of the current task's stderr, after reading everything the pipe holds; `nil` if
    /// the task wrote nothing there. Called once the worker has exited, so its writes are complete.
    func diagnostics() -> String? {
        standardError.withLock { state in
            _ = readAvailable(&state)
            return state.tail.text
        }
    }

    /// Stops reading and closes every descriptor the capture still holds; the watches close the
    /// read ends once the event loop has stopped watching them.
    /// The watches' cancel handlers hold the capture until this is called. `completion` runs once
    /// both read ends are closed, so a pool that has joined holds none of them.
    func stopReading(then completion: @escaping @Sendable () -> Void) {
        for fd in writeEnds.withLock({ ends in
            defer { ends = [] }
            return ends
        }) { close(fd) }
        outputSource.cancel()
        errorSource.cancel()
        closed.notify(queue: queue, execute: completion)
    }

    /// Stdout: one read per event (the re-armed watch calls again while more is readable), dropped.
    private func readOutput(_ fd: Int32) {
        let got = read(fd, outputScratch.baseAddress, outputScratch.count)
        if got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR) { outputSource.cancel() }
    }

    private func readError() {
        let ended = standardError.withLock { readAvailable(&$0, reads: 1) }
        if ended { errorSource.cancel() }
    }

    /// Reads stderr into the tail until the pipe is empty (at most `reads` reads, so a writer that
    /// keeps the pipe full cannot hold the lock); `true` at end of file.
    private func readAvailable(_ state: inout StandardError, reads: Int = 64) -> Bool {
        guard state.fd >= 0 else { return false }
        for _ in 0..<reads {
            let got = read(state.fd, errorScratch.baseAddress, errorScratch.count)
            if got > 0 {
                state.tail.append(UnsafeRawBufferPointer(rebasing: errorScratch[..<got]))
            } else if got == 0 {
                return true
            } else if errno != EINTR {
                return false
            }
        }
        return false
    }
}
