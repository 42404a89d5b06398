// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import Pebble

/// The usage frame a worker sends before an outcome, and what the pool makes of a dead worker's.
@Suite struct UsageReportTests {
    @Test func aReportRoundTripsThroughItsFrame() throws {
        let report = UsageReport(
            task: ResourceUsage(
                userTime: .milliseconds(300), systemTime: .microseconds(1500),
                peakResidentMemory: 256 << 20),
            lifetimeUserTime: .seconds(2), lifetimeSystemTime: .milliseconds(40))
        let frame = report.withFrame { Array($0) }
        #expect(frame[Frame.headerSize] == MessageKind.usage.rawValue)
        #expect(UsageReport(decoding: frame[(Frame.headerSize + 1)...]) == report)
        var unknownPeak = report
        unknownPeak.task.peakResidentMemory = nil
        #expect(UsageReport(decoding: unknownPeak.withFrame { Array($0) }[(Frame.headerSize + 1)...]) == unknownPeak)
        #expect(UsageReport(decoding: frame[(Frame.headerSize + 2)...]) == nil, "a short body is malformed")
    }

    @Test func aDeadWorkersTaskGetsTheCPUSinceItsLastReportAndTheLifetimePeak() {
        let lifetime = ResourceUsage(userTime: .seconds(5), systemTime: .milliseconds(500), peakResidentMemory: 300 << 20)
        #expect(UsageReport.deadWorkerUsage(lifetime: lifetime, reported: nil) == lifetime)
        let reported = UsageReport(
            task: ResourceUsage(userTime: .zero, systemTime: .zero, peakResidentMemory: 1 << 20),
            lifetimeUserTime: .seconds(2), lifetimeSystemTime: .milliseconds(100))
        #expect(
            UsageReport.deadWorkerUsage(lifetime: lifetime, reported: reported)
                == ResourceUsage(userTime: .seconds(3), systemTime: .milliseconds(400), peakResidentMemory: 300 << 20))
    }

    @Test func theHelloCarriesTheSetting() {
        for records in [false, true] {
            var bytes: [UInt8] = []
            let settings = WorkerSettings(recordsResourceUsage: records)
            settings.encode(into: &bytes)
            #expect(bytes.count == WorkerSettings.encodedSize)
            #expect(WorkerSettings(decoding: bytes[...]) == settings)
        }
    }
}
