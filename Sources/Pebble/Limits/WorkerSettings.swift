// SPDX-License-Identifier: Apache-2.0

/// What a worker applies to itself right after the hello, before the initializer: its resource
/// limits, the resident-memory threshold it checks after each task, and where its output goes.
///
/// It travels in the hello as seven little-endian 64-bit integers (−1: not set), after the message
/// limit and before the initializer job.
struct WorkerSettings: Hashable, Sendable {
    var limits: ResourceLimits
    var maxResidentMemory: Int?
    var output: WorkerOutput
    /// Whether the worker measures each task and sends a ``UsageReport`` with its outcome.
    var recordsResourceUsage: Bool

    static let encodedSize = 7 * 8

    init(
        limits: ResourceLimits = .none, maxResidentMemory: Int? = nil, output: WorkerOutput = .inherit,
        recordsResourceUsage: Bool = false
    ) {
        self.limits = limits
        self.maxResidentMemory = maxResidentMemory
        self.output = output
        self.recordsResourceUsage = recordsResourceUsage
    }

    init(_ configuration: ProcessPool.Configuration) {
        self.init(
            limits: configuration.limits, maxResidentMemory: configuration.maxResidentMemory,
            output: configuration.workerOutput, recordsResourceUsage: configuration.recordsResourceUsage)
    }

    func encode(into bytes: inout [UInt8]) {
        let outputCode: Int =
            switch output.kind {
            case .inherit: 0
            case .discard: 1
            case .capture: 2
            }
        let fields = [
            limits.addressSpace, limits.cpuTime.map(Self.nanoseconds), limits.openFiles, limits.fileSize,
            maxResidentMemory, outputCode, recordsResourceUsage ? 1 : 0
        ]
        for field in fields { Frame.appendLength(UInt64(bitPattern: Int64(field ?? -1)), to: &bytes) }
    }

    /// The settings in the first ``encodedSize`` bytes of `bytes`; `nil` if they are malformed.
    init?(decoding bytes: ArraySlice<UInt8>) {
        guard bytes.count >= Self.encodedSize else { return nil }
        let fields: [Int?] = (0..<7).map { index in
            let start = bytes.startIndex + index * 8
            let value = Int64(
                bitPattern: bytes[start..<start + 8].withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
            return value < 0 ? nil : Int(value)
        }
        let output: WorkerOutput
        switch fields[5] {
        case 0?: output = .inherit
        case 1?: output = .discard
        case 2?: output = .capture
        default: return nil
        }
        guard let usage = fields[6], usage <= 1 else { return nil }
        self.init(
            limits: ResourceLimits(
                addressSpace: fields[0], cpuTime: fields[1].map { .nanoseconds($0) },
                openFiles: fields[2], fileSize: fields[3]),
            maxResidentMemory: fields[4], output: output, recordsResourceUsage: usage == 1)
    }

    /// `duration` in nanoseconds, saturated to what fits in an `Int`.
    static func nanoseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return Int.max }
        let (total, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? Int.max : Int(total)
    }
}
