// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import Pebble

@Suite struct LatencyHistogramTests {
    @Test func emptyHistogramSummarizesAsEmpty() {
        #expect(LatencyHistogram().summary == .empty)
        #expect(LatencySummary.empty.count == 0 && LatencySummary.empty.max == .zero)
    }

    @Test func bucketsCoverEveryValueAndAreOrdered() {
        var previous = -1
        for shift in 0..<64 {
            for value in [UInt64(1) << UInt64(shift), (UInt64(1) << UInt64(shift)) | 1, UInt64.max >> UInt64(63 - shift)] {
                let bucket = LatencyHistogram.bucket(of: value)
                #expect(bucket >= 0 && bucket < LatencyHistogram.bucketCount)
                let (lower, width) = LatencyHistogram.bounds(of: bucket)
                #expect(lower <= value && value - lower < width, "value \(value) bucket \(bucket)")
            }
            let bucket = LatencyHistogram.bucket(of: UInt64(1) << UInt64(shift))
            #expect(bucket > previous)
            previous = bucket
        }
        #expect(LatencyHistogram.bucket(of: .max) == LatencyHistogram.bucketCount - 1)
    }

    @Test func percentilesAreWithinFivePercent() {
        // 1…10,000 µs, shuffled: the exact p50/p90/p99 are 5,000, 9,000 and 9,900 µs.
        var histogram = LatencyHistogram()
        for micros in (1...10_000).shuffled() { histogram.record(.microseconds(micros)) }
        let summary = histogram.summary
        #expect(summary.count == 10_000)
        #expect(summary.max == .microseconds(10_000))
        for (measured, exact) in [(summary.p50, 5_000.0), (summary.p90, 9_000.0), (summary.p99, 9_900.0)] {
            let micros = measured.seconds * 1e6
            #expect(abs(micros - exact) / exact < 0.05, "\(micros) µs for \(exact) µs")
        }
    }

    @Test func percentilesNeverExceedTheMaximum() {
        var histogram = LatencyHistogram()
        histogram.record(.nanoseconds(1_000_001))
        let summary = histogram.summary
        #expect(summary.p50 <= summary.max && summary.p99 <= summary.max)
        #expect(summary.max == .nanoseconds(1_000_001))
    }

    @Test func skewedDistributionKeepsTheTail() {
        var histogram = LatencyHistogram()
        for _ in 0..<980 { histogram.record(.milliseconds(1)) }
        for _ in 0..<20 { histogram.record(.seconds(2)) }
        let summary = histogram.summary
        #expect(abs(summary.p50.seconds - 0.001) < 0.001 * 0.05)
        #expect(abs(summary.p90.seconds - 0.001) < 0.001 * 0.05)
        #expect(abs(summary.p99.seconds - 2) < 2 * 0.05)
    }

    @Test func negativeAndHugeDurationsAreClamped() {
        var histogram = LatencyHistogram()
        histogram.record(.seconds(-1))
        histogram.record(.seconds(Int64.max))
        #expect(histogram.count == 2)
        #expect(histogram.summary.p50 == .zero)
    }

    @Test func summaryEncodesAsSecondsAndRoundTrips() throws {
        let summary = LatencySummary(
            count: 3, p50: .milliseconds(2), p90: .microseconds(4_300),
            p99: .nanoseconds(12_000_001), max: .seconds(31))
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(summary)) as? [String: Any]
        #expect(json?["count"] as? Int == 3)
        #expect(json?["p50"] as? Double == 0.002)
        #expect(json?["max"] as? Double == 31)
        #expect(try JSONDecoder().decode(LatencySummary.self, from: JSONEncoder().encode(summary)) == summary)
    }

    @Test func descriptionsAreShort() {
        #expect(Duration.nanoseconds(850).shortDescription == "850 ns")
        #expect(Duration.microseconds(2_100).shortDescription == "2.1 ms")
        #expect(Duration.milliseconds(1_500).shortDescription == "1.5 s")
        let usage = ResourceUsage(userTime: .milliseconds(300), systemTime: .milliseconds(20), peakResidentMemory: 64 << 20)
        #expect(usage.description == "user 300 ms, system 20.0 ms, peak 64 MiB")
    }
}
