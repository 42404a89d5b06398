// SPDX-License-Identifier: Apache-2.0
import PebbleCodec
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

    func settle(_ error: any Error) -> (@Sendable () -> Void)? {
        guard let observers = future.settle(.failure(error)) else { return nil }
        return { [future] in future.notify(observers, of: .failure(error)) }
    }

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
