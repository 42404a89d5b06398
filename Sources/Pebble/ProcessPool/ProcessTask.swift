import PebbleCodec

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A process job's future and its encoded request.
final class ProcessTask<Value: Sendable>: AnyProcessTask {
    let future: Future<Value>
    /// The future's state, which also holds what the task used.
    private let core = ProcessFutureCore()
    let request: ScatteredBytes
    let timeout: Duration?
    let scheduledAt = monotonicNanoseconds()
    private let decodeValue: @Sendable (ArraySlice<UInt8>) throws -> Value
    /// Takes this task back when its future is cancelled after it was offered: the pool's
    /// `withdraw`, holding the pool weakly. Not bound to a worker: whichever worker takes the
    /// offering runs it.
    private let stopRunning: @Sendable (any AnyProcessTask) -> Bool

    init(
        request: ScatteredBytes, timeout: Duration?, stopRunning: @escaping @Sendable (any AnyProcessTask) -> Bool,
        decodeValue: @escaping @Sendable (ArraySlice<UInt8>) throws -> Value
    ) {
        self.request = request
        self.timeout = timeout
        self.stopRunning = stopRunning
        self.decodeValue = decodeValue
        future = Future(core: core)
    }

    func offer(slot: Int, sequence: UInt64, on board: any TaskBoard) -> Bool {
        // Strong: the future holds the handler only while it runs, and every running future
        // completes (or goes back to pending), which drops the handler and the cycle with it. A
        // weak capture would give every task a side table, and every retain of it the slow path.
        future.markRunning(
            stopHandler: { [self, stopRunning] in stopRunning(self) },
            hasStarted: {
                switch board.state(slot: slot, sequence: sequence) {
                case .offered, .revoked: false
                // Taken, done, being stopped, or answered (the slot moved on) while still unresolved.
                case .taken, .done, .stopping, .moved: true
                }
            })
    }

    var isDone: Bool { future.isDone }

    func requeue() -> Bool { future.markPending() }

    func fail(_ error: any Error) { future.complete(.failure(error)) }

    func settle(_ error: any Error) -> (@Sendable () -> Void)? {
        guard let observers = future.settle(.failure(error)) else { return nil }
        return { [future] in future.notify(observers, of: .failure(error)) }
    }

    func resolve(_ kind: MessageKind, _ body: ArraySlice<UInt8>, usage: ResourceUsage?) {
        if let usage { core.attachUsage(usage) }
        future.complete(Self.outcome(kind, body, decodeValue))
    }

    private static func outcome(
        _ kind: MessageKind, _ body: ArraySlice<UInt8>,
        _ decodeValue: (ArraySlice<UInt8>) throws -> Value
    ) -> Result<Value, any Error> {
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
