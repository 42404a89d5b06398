// SPDX-License-Identifier: Apache-2.0
import Foundation

/// One row of the benchmark: a metric for one implementation, summarised from its samples.
struct Measurement: Sendable {
    let metric: String
    let impl: String
    let workers: Int
    let unit: String
    let samples: [Double]

    var sorted: [Double] { samples.sorted() }
    var median: Double { percentile(0.5) }

    func percentile(_ p: Double) -> Double {
        let sorted = self.sorted
        guard !sorted.isEmpty else { return .nan }
        let position = p * Double(sorted.count - 1)
        let low = Int(position.rounded(.down)), high = Int(position.rounded(.up))
        return sorted[low] + (sorted[high] - sorted[low]) * (position - Double(low))
    }

    var json: String {
        func number(_ value: Double) -> String { value.isFinite ? String(format: "%.6g", value) : "null" }
        return #"{"metric": "\#(metric)", "impl": "\#(impl)", "workers": \#(workers), "value": \#(number(median)), "unit": "\#(unit)", "#
            + #""p10": \#(number(percentile(0.1))), "p90": \#(number(percentile(0.9))), "n": \#(samples.count), "#
            + #""min": \#(number(sorted.first ?? .nan)), "max": \#(number(sorted.last ?? .nan))}"#
    }
}

/// The command line: `--quick` and `--metrics M2,M5` (prefixes).
enum Options {
    static let quick = CommandLine.arguments.contains("--quick")
    static let selected: [String]? = CommandLine.arguments.firstIndex(of: "--metrics").flatMap { index in
        index + 1 < CommandLine.arguments.count
            ? CommandLine.arguments[index + 1].split(separator: ",").map(String.init) : nil
    }

    static func wanted(_ metric: String) -> Bool {
        // "M5a" selects M5 (which measures M5a and M5b); "M3-w4" does not select M3.
        selected?.contains { metric.hasPrefix($0) || ($0.hasPrefix(metric) && !$0.dropFirst(metric.count).hasPrefix("-")) } ?? true
    }
}

/// A full-run count, or a small one with `--quick`.
func scaled(_ full: Int, quick small: Int) -> Int { Options.quick ? small : full }

/// Monotonic time in seconds.
func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// Seconds `body` takes.
func time(_ body: () throws -> Void) rethrows -> Double {
    let start = now()
    try body()
    return now() - start
}
