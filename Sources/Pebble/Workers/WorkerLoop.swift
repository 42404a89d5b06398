// SPDX-License-Identifier: Apache-2.0
import Dispatch
import PebbleCodec
import Synchronization
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct WorkerLoop {
    let channel: Int32
    let executor = InlineExecutor()
    /// Until the hello arrives, a bound that only stops a runaway read.
    var limit = Int(UInt32.max)

    mutating func run() {
        var passed: [Int32] = []
        let settingsStart = 1 + Frame.headerSize
        let identityStart = settingsStart + WorkerSettings.encodedSize
        let bodyStart = identityStart + WorkerIdentity.encodedSize
        guard let hello = ChannelIO.readFrame(channel, limit: limit, receiving: &passed),
            hello.first == MessageKind.hello.rawValue, hello.count >= bodyStart, passed.count >= 2,
            let settings = WorkerSettings(decoding: hello[settingsStart..<identityStart]),
            let identity = WorkerIdentity(decoding: hello[identityStart..<bodyStart])
        else { Self.exitWithGroup() }
        limit = hello.withUnsafeBytes { Frame.readLength(UnsafeRawBufferPointer(rebasing: $0[1...])) }
        // The pool's task feed and task board come first; the output pipes, if any, after them.
        let feed = passed[0]
        guard let board = pebble_map_task_board(passed[1]) else { Self.exitWithGroup() }
        close(passed[1])
        // Before the initializer: it runs under the same output and limits as every task.
        WorkerOutputRedirection.apply(settings.output, passed: Array(passed.dropFirst(2)))
        WorkerLimits.apply(settings.limits)
        WorkerLimits.startTask(cpuTime: settings.limits.cpuTime)
        if hello.count > bodyStart, let failure = initialize(hello[bodyStart...]) {
            send(Frame.make(.initializerFailed, Array(failure.utf8)))
            Self.exitWithGroup()
        }
        send(Frame.make(.ready, []))
        // The jobs: whenever idle, the worker receives the oldest message on the feed and takes
        // its task on the board; one the pool revoked first (cancelled, past its deadline, offered
        // again) is skipped. Each outcome is sent at once, so it is never lost with a later crash.
        // Opened here, in the worker: its descriptors name this process's /proc entries.
        let meter = settings.recordsResourceUsage ? TaskUsageMeter() : nil
        let input = WorkerInput(fd: feed)
        let index = Int32(identity.index)
        var taken = 0
        while let message = input.next() {
            let header = message.header
            guard pebble_claim_take(board, Int32(header.slot), header.sequence, index) else { continue }
            if header.flags & JobHeader.announceTake != 0 {
                withUnsafeBytes(of: header.sequence.littleEndian) { send(Frame.make(.started, Array($0))) }
            }
            // A large request follows on the channel once asked for: read into a buffer of its
            // own, which the job's large `Data` values are views of.
            var request = message.inline
            if header.flags & JobHeader.requestFollows != 0 {
                withUnsafeBytes(of: header.sequence.littleEndian) { send(Frame.make(.fetch, Array($0))) }
                // The pool is gone, or is killing this worker for this task.
                guard let fetched = input.fetchedRequest(on: channel, sequence: header.sequence, limit: limit) else {
                    Self.exitWithGroup()
                }
                request = fetched
            }
            taken += 1
            WorkerLimits.startTask(cpuTime: settings.limits.cpuTime)
            meter?.begin()
            let reply = execute(request)
            // Unless the reply holds a view of it, the request's buffer is free for the next one.
            request = []
            // Sent in the same write as the outcome, just before it: no message of its own.
            let report = meter.map { meter in
                let task = meter.end()
                return UsageReport(task: task, lifetimeUserTime: meter.lifetimeUserTime, lifetimeSystemTime: meter.lifetimeSystemTime)
            }
            // What the job printed reaches the pool's (or the captured) stdout before its outcome.
            pebble_flush_stdout()
            // The pool is killing this worker for this task (a cancel, a timeout or a deadline):
            // it takes nothing more.
            guard pebble_claim_finish(board, Int32(header.slot), header.sequence, index) else { Self.exitWithGroup() }
            if let threshold = settings.maxResidentMemory, let resident = WorkerLimits.residentBytes(), resident > threshold {
                // Announced first, so the pool counts on this worker no more; then the outcome, then the exit.
                send(Frame.make(.retiring, WorkerRetirement.memoryLimit(residentBytes: resident).encoded))
                send(reply, after: report)
                Self.exitWithGroup()
            }
            send(reply, after: report)
            // maxTasks: the worker never takes one more.
            if identity.maxTasks > 0 && taken >= identity.maxTasks { Self.exitWithGroup() }
        }
        Self.exitWithGroup()
    }

    /// The pool closed the channel (or is gone): the worker ends, and takes what its jobs started in
    /// its process group along, as a worker killed by the pool would.
    static func exitWithGroup() -> Never {
        kill(0, SIGKILL)
        _exit(0)
    }

    func send(_ frame: [UInt8]) {
        if !ChannelIO.sendAll(channel, frame) { Self.exitWithGroup() }
    }

    /// Sends an outcome from where its parts are (a large payload is not copied), after its task's
    /// usage frame when there is one (one write for both).
    func send(_ reply: ScatteredBytes, after report: UsageReport?) {
        let sent = report.map { $0.withFrame { ChannelIO.sendAll(channel, reply, after: $0) } } ?? ChannelIO.sendAll(channel, reply)
        if !sent { Self.exitWithGroup() }
    }

    /// Runs the initializer job; returns why it failed, or `nil`.
    func initialize(_ body: ArraySlice<UInt8>) -> String? {
        let reply = execute(body).joined
        switch MessageKind(rawValue: reply[Frame.headerSize]) {
        case .value: return nil
        case .error:
            let encoded = try? BinaryDecoder().decode(EncodedError.self, from: reply[(Frame.headerSize + 1)...])
            return encoded.map { "\($0.typeName): \($0.message)" } ?? "the initializer threw"
        default: return String(decoding: reply[(Frame.headerSize + 1)...], as: UTF8.self)
        }
    }

    /// Decodes and runs one job; returns the reply frame.
    func execute(_ body: ArraySlice<UInt8>) -> ScatteredBytes {
        body.withUnsafeBytes { execute(ReceivedRequest($0, owner: body)) }
    }

    /// Decodes and runs one job; returns the reply frame.
    func execute(_ request: ReceivedRequest) -> ScatteredBytes {
        guard let (name, payloadStart) = Frame.splitName(request.bytes) else {
            return ScatteredBytes(Frame.make(.decodingFailed, Array("malformed job message".utf8)))
        }
        guard let type = JobName.jobType(named: name) else {
            return ScatteredBytes(Frame.make(.decodingFailed, Array("the worker cannot find a ProcessJob type named \(name)".utf8)))
        }
        let payload = request.dropFirst(payloadStart)
        return executor.runToCompletion { [limit] in await Self.run(type, payload, limit: limit) }
    }

    static func run<J: ProcessJob>(_ type: J.Type, _ payload: ReceivedRequest, limit: Int) async -> ScatteredBytes {
        let job: J
        do {
            job = try BinaryDecoder().decode(J.self, from: payload.bytes, keepingAlive: payload.owner)
        } catch {
            return ScatteredBytes(Frame.make(.decodingFailed, Array("could not decode \(J.self) in the worker: \(error)".utf8)))
        }
        let output: J.Output
        do {
            output = try await job.run()
        } catch {
            return encodeReply(.error, EncodedError(error), limit: limit)
        }
        return encodeReply(.value, output, limit: limit)
    }

    /// The reply frame for `value`; a large `Data` or `[UInt8]` in it stays in its own storage.
    static func encodeReply(_ kind: MessageKind, _ value: some Encodable, limit: Int) -> ScatteredBytes {
        let frame: ScatteredBytes
        do {
            frame = try Frame.encoding(kind, value)
        } catch {
            return ScatteredBytes(
                Frame.make(.encodingFailed, Array("could not encode the output of type \(type(of: value)): \(error)".utf8)))
        }
        let payloadSize = frame.count - Frame.headerSize - 1
        guard payloadSize < limit else {
            return ScatteredBytes(
                Frame.make(.tooLarge, Array("the output is \(payloadSize) bytes, over the pool's maxMessageSize of \(limit)".utf8)))
        }
        return frame
    }
}
