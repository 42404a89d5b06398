// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One running ``Command``: its reaper (see `command_reaper.c`), the pipes and the control socket, each
/// watched by the ``EventLoop`` with its handler on one serial queue, so nothing here ever blocks
/// a thread.
///
/// The run is over when all five are done: stdin written and closed, stdout and stderr at
/// end-of-file and closed, the control socket at end-of-file (the reaper's last report read) and
/// closed, and the reaper reaped and its pidfd closed. The reaper exits only once the command's
/// whole tree is gone, so when the run completes no process, zombie or descriptor of it is left.
/// Stopping it (timeout, cancellation, output limit) is one byte on the control socket: the
/// reaper kills the tree.
///
/// Stdin never holds the run up: a pipe whose readers are all gone reports an error, and the
/// write then fails with EPIPE; and once the reaper exited nobody can read stdin any more (the
/// tree is gone, a grandchild that kept it open included), so what is left of the input is
/// dropped.
final class CommandExecution: Sendable {
    enum Stop: Sendable { case timeout(Duration), cancelled, outputLimit(Int) }
    typealias Completion = @Sendable (Result<CommandResult, any Error>) -> Void

    private struct State {
        var output: [UInt8] = []
        var errors: [UInt8] = []
        var outputBytes = 0
        /// stdin, stdout, stderr, control, reaper: each counts down once.
        var pending = 5
        var controlOpen = true
        var commandPid: pid_t = 0
        var status: Int32?
        var usage = ResourceUsage(userTime: .zero, systemTime: .zero, peakResidentMemory: nil)
        var failure: (code: Int32, stage: Int32)?
        var stop: Stop?
        var input: [UInt8]
        var inputOffset = 0
        var outcome: Result<CommandResult, any Error>?
        var completion: Completion?
    }

    private let command: Command
    private let outputLimit: Int
    private let spawned: CommandSpawner.Spawned
    private let queue = DispatchQueue(label: "pebble.command")
    private let state: StateLock<State>
    private let reaper: ExitWatcher
    // The watches are created in init and then only resumed and cancelled (from any thread); their
    // handlers run on `queue`.
    private let outputSource: EventRegistration
    private let errorSource: EventRegistration
    private let controlSource: EventRegistration
    private let inputSource: EventRegistration?
    // DispatchSourceTimer is not Sendable in corelibs-dispatch. The timer is created in init and
    // then only resumed and cancelled, which Dispatch allows from any thread.
    nonisolated(unsafe) private let timer: (any DispatchSourceTimer)?
    /// The read buffer, used only on `queue`, which serializes every access.
    nonisolated(unsafe) private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    /// Spawns the command and starts watching it; `completion` runs once, on the command's queue.
    init(_ command: Command, input: [UInt8], timeout: Duration?, outputLimit: Int) throws {
        self.command = command
        self.outputLimit = outputLimit
        try EventLoop.start()
        spawned = try CommandSpawner.spawn(command)
        state = StateLock(State(input: input))
        reaper = ExitWatcher(pid: spawned.reaper, pidfd: spawned.reaperPidfd, origin: .child, queue: queue)
        outputSource = EventRegistration(fd: spawned.stdout, interest: .readable, queue: queue)
        errorSource = EventRegistration(fd: spawned.stderr, interest: .readable, queue: queue)
        controlSource = EventRegistration(fd: spawned.control, interest: .readable, queue: queue)
        inputSource = input.isEmpty ? nil : EventRegistration(fd: spawned.stdin, interest: .writable, queue: queue)
        timer = timeout == nil ? nil : DispatchSource.makeTimerSource(queue: queue)

        // Every handler holds the execution strongly: a registration releases them once it is
        // cancelled, which happens for each before the run completes.
        for (source, fd, isOutput) in [(outputSource, spawned.stdout, true), (errorSource, spawned.stderr, false)] {
            source.setEventHandler { [self] in drain(fd, isOutput: isOutput) }
            source.setCancelHandler { [self] in
                close(fd)
                done { _ in }
            }
        }
        controlSource.setEventHandler { [self] in receiveReports() }
        controlSource.setCancelHandler { [self, fd = spawned.control] in
            close(fd)
            done { $0.controlOpen = false }
        }
        if let inputSource {
            inputSource.setEventHandler { [self] in writeInput() }
            inputSource.setCancelHandler { [self, fd = spawned.stdin] in
                close(fd)
                done { _ in }
            }
        } else {
            close(spawned.stdin)
            state.withLock { $0.pending -= 1 }
        }
        // The reaper counts as done once its pidfd is closed too, so that no descriptor outlives the run.
        // Once it exited, the command's tree is gone: nobody can read what is left of the input.
        // Its memory is released only then: it ran on it until it exited.
        reaper.setHandlers(
            exited: { [reaper, inputSource, memory = spawned.reaperMemory] _ in
                memory.release()
                reaper.finish()
                inputSource?.cancel()
            }, closed: { [self] in done { _ in } })
        if let timer, let timeout {
            timer.setEventHandler { [self] in stop(.timeout(timeout)) }
            timer.schedule(deadline: timeout.deadlineFromNow)
        }
    }

    deinit { scratch.deallocate() }

    /// Starts the watches; `completion` is called once with the outcome.
    func start(_ completion: @escaping Completion) {
        state.withLock { $0.completion = completion }
        for source in [outputSource, errorSource, controlSource] { source.resume() }
        inputSource?.resume()
        timer?.resume()
        reaper.start()
    }

    /// Kills the command's whole tree, and the run ends with the error for `reason` — unless the
    /// command had already exited (then its result stands), or for the output limit (always).
    func stop(_ reason: Stop) {
        queue.async { [self] in
            let shouldSend: Bool = state.withLock { state in
                guard state.outcome == nil, state.stop == nil else { return false }
                if case .outputLimit = reason {} else if state.status != nil || state.failure != nil { return false }
                state.stop = reason
                return state.controlOpen
            }
            guard shouldSend else { return }
            var byte: UInt8 = 1
            _ = send(spawned.control, &byte, 1, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
        }
    }

    // MARK: - On the queue

    private func drain(_ fd: Int32, isOutput: Bool) {
        let source = isOutput ? outputSource : errorSource
        while true {
            let count = read(fd, scratch.baseAddress, scratch.count)
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            if count <= 0 { return source.cancel() }
            let over: Bool = state.withLock { state in
                let room = max(0, outputLimit - state.outputBytes)
                let kept = UnsafeRawBufferPointer(rebasing: scratch[..<min(count, room)])
                if isOutput { state.output.append(contentsOf: kept) } else { state.errors.append(contentsOf: kept) }
                state.outputBytes += count
                return state.outputBytes > outputLimit
            }
            if over {
                stop(.outputLimit(outputLimit))
                // Nothing more is kept: closing the pipe ends its writers (SIGPIPE) while the tree dies.
                return source.cancel()
            }
        }
    }

    private func writeInput() {
        guard let inputSource else { return }
        while true {
            let result: Int = state.withLock { state in
                let remaining = state.input.count - state.inputOffset
                guard remaining > 0 else { return 0 }
                return state.input.withUnsafeBytes { bytes in
                    pebble_write_nosigpipe(spawned.stdin, bytes.baseAddress! + state.inputOffset, min(remaining, 1 << 16))
                }
            }
            if result < 0 && errno == EINTR { continue }
            if result < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            // Done, or the command closed its stdin (EPIPE): either way stdin is finished.
            if result <= 0 { return inputSource.cancel() }
            let finished = state.withLock { state in
                state.inputOffset += result
                return state.inputOffset >= state.input.count
            }
            if finished {
                state.withLock { $0.input = [] }
                return inputSource.cancel()
            }
        }
    }

    private func receiveReports() {
        while true {
            var message = pebble_command_message()
            let got = recv(spawned.control, &message, MemoryLayout<pebble_command_message>.size, Int32(MSG_DONTWAIT))
            if got < 0 && errno == EINTR { continue }
            if got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            guard got == MemoryLayout<pebble_command_message>.size else { return controlSource.cancel() }
            state.withLock { state in
                switch Int(message.type) {
                case PEBBLE_COMMAND_STARTED: state.commandPid = message.pid
                case PEBBLE_COMMAND_EXITED:
                    state.status = message.value
                    state.usage = ResourceUsage(
                        userTime: .microseconds(max(0, message.user_usec)),
                        systemTime: .microseconds(max(0, message.system_usec)),
                        peakResidentMemory: message.maxrss_kb > 0 ? Int(message.maxrss_kb) * 1024 : nil)
                default: state.failure = (message.value, message.stage)
                }
            }
        }
    }

    /// One of the five is done; after the last, the run completes.
    private func done(_ change: (inout State) -> Void) {
        let finished: (Completion, Result<CommandResult, any Error>)? = state.withLock { state in
            change(&state)
            state.pending -= 1
            guard state.pending == 0, state.outcome == nil else { return nil }
            let outcome = Self.outcome(of: state, command: command)
            state.outcome = outcome
            defer { state.completion = nil }
            return state.completion.map { ($0, outcome) }
        }
        guard let (completion, outcome) = finished else { return }
        timer?.cancel()
        completion(outcome)
    }

    private static func outcome(of state: State, command: Command) -> Result<CommandResult, any Error> {
        switch state.stop {
        case .timeout(let timeout): return .failure(TimeoutError(timeout: timeout))
        case .cancelled: return .failure(CancellationError())
        case .outputLimit(let limit):
            return .failure(
                PebbleError(
                    .outputLimitExceeded,
                    "'\(command.executable)' wrote more than its outputLimit of \(limit) bytes; its process tree was killed"))
        case nil: break
        }
        if let failure = state.failure {
            let reason = String(cString: strerror(failure.code))
            let what =
                switch Int(failure.stage) {
                case PEBBLE_STAGE_DIRECTORY: "cannot change to directory '\(command.workingDirectory ?? "")'"
                case PEBBLE_STAGE_LIMITS: "cannot set its resource limits"
                case PEBBLE_STAGE_FORK, PEBBLE_STAGE_REAPER: "cannot start its reaper process"
                default: "cannot execute '\(command.executable)'"
                }
            return .failure(PebbleError(.spawnFailed, "\(what): \(reason)"))
        }
        guard let status = state.status else {
            return .failure(
                PebbleError(
                    .spawnFailed,
                    "the reaper process of '\(command.executable)' was killed before it reported the command's status"))
        }
        return .success(
            CommandResult(
                pid: state.commandPid, status: TerminationStatus(waitStatus: status),
                standardOutput: state.output, standardError: state.errors, resourceUsage: state.usage))
    }
}
