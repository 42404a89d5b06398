
/// A job on its way to a worker: the encoded request, and how to complete its future from the reply.
protocol AnyProcessTask: AnyObject, Sendable {
    var request: [UInt8] { get }
    var timeout: Duration? { get }
    /// Marks the task running; `false` when it was cancelled while pending and must not be sent.
    func start(stopHandler: @escaping @Sendable () -> Bool) -> Bool
    /// Back to pending after its worker died before starting it; `false` if it was cancelled meanwhile.
    func requeue() -> Bool
    /// Completes the future from a reply frame.
    func resolve(_ kind: MessageKind, _ body: ArraySlice<UInt8>)
    func fail(_ error: any Error)
}

final class ProcessTask<Value: Sendable>: AnyProcessTask {
    let future = Future<Value>()
    let request: [UInt8]
    let timeout: Duration?
    private let decodeValue: @Sendable (ArraySlice<UInt8>) throws -> Value

    init(request: [UInt8], timeout: Duration?, decodeValue: @escaping @Sendable (ArraySlice<UInt8>) throws -> Value) {
        self.request = request
        self.timeout = timeout
        self.decodeValue = decodeValue
    }

    func start(stopHandler: @escaping @Sendable () -> Bool) -> Bool {
        future.markRunning(stopHandler: stopHandler)
    }

    func requeue() -> Bool { future.markPending() }

    func fail(_ error: any Error) { future.complete(.failure(error)) }

    func resolve(_ kind: MessageKind, _ body: ArraySlice<UInt8>) {
        future.complete(Self.outcome(kind, body, decodeValue))
    }

    private static func outcome(_ kind: MessageKind, _ body: ArraySlice<UInt8>,
                                _ decodeValue: (ArraySlice<UInt8>) throws -> Value) -> Result<Value, any Error> {
        let text = { String(decoding: body, as: UTF8.self) }
        switch kind {
        case .value:
            do { return .success(try decodeValue(body)) } catch {
                return .failure(PebbleError(.decodingFailed, "could not decode the job's output as \(Value.self): \(error)"))
            }
        case .error:
            guard let encoded = try? BinaryDecoder().decode(EncodedError.self, from: body) else {
                return .failure(PebbleError(.decodingFailed, "could not decode the error the job threw"))
            }
            return .failure(encoded.rebuilt)
        case .decodingFailed: return .failure(PebbleError(.decodingFailed, text()))
        case .encodingFailed: return .failure(PebbleError(.encodingFailed, text()))
        case .tooLarge: return .failure(PebbleError(.messageTooLarge, text()))
        default: return .failure(PebbleError(.protocolViolation, "unexpected reply of kind \(kind)"))
        }
    }
}

/// Encodes jobs into request frames.
enum JobEncoding {
    /// The request frame for `job`, checked against the pool's message limit.
    static func request<J: ProcessJob>(_ job: J, limit: Int) throws -> [UInt8] {
        let name = try JobName.of(J.self)
        let frame: [UInt8]
        do {
            frame = try Frame.build(.job) { bytes in
                bytes += Frame.nameField(name)
                try BinaryEncoder().encode(job, into: &bytes)
            }
        } catch {
            throw PebbleError(.encodingFailed, "could not encode the job \(J.self): \(error)")
        }
        guard Frame.payloadSize(frame) < limit else {
            throw PebbleError(.messageTooLarge, "the job \(J.self) encodes to \(Frame.payloadSize(frame)) bytes, over the pool's maxMessageSize of \(limit)")
        }
        return frame
    }

    /// The body of a job message for `job`, without the frame header: used inside the hello.
    static func body(_ job: any ProcessJob) throws -> [UInt8] {
        func open<J: ProcessJob>(_ job: J) throws -> [UInt8] {
            var body = Frame.nameField(try JobName.of(J.self))
            try BinaryEncoder().encode(job, into: &body)
            return body
        }
        return try open(job)
    }
}
