// SPDX-License-Identifier: Apache-2.0

/// Why a worker announced, just before the outcome of its task, that it exits after that task.
///
/// It travels as the body of a ``MessageKind/retiring`` message: one reason byte, then the reason's
/// details. The pool tells its state machine (`workerWillRetire(_:reason: .memoryLimit)`), which gives
/// the worker no further task and reports its exit with that reason, not as a crash.
enum WorkerRetirement: Hashable, Sendable {
    /// The resident set was above `maxResidentMemory` after the task: `residentBytes`.
    case memoryLimit(residentBytes: Int)

    private static let memoryLimitCode: UInt8 = 0x4D // "M"

    var encoded: [UInt8] {
        switch self {
        case .memoryLimit(let resident):
            var body = [Self.memoryLimitCode]
            Frame.appendLength(UInt64(max(0, resident)), to: &body)
            return body
        }
    }

    /// The retirement in a message body (after the kind byte); `nil` if malformed.
    init?(decoding body: ArraySlice<UInt8>) {
        guard body.count == 9, body.first == Self.memoryLimitCode else { return nil }
        let resident = body.dropFirst().withUnsafeBytes { Frame.readLength($0) }
        self = .memoryLimit(residentBytes: resident)
    }
}
