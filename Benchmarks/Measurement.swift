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
    static let usage = """
        usage: pebble-bench [--quick] [--metrics LIST]

          --quick         every metric with tiny sample counts (a smoke test)
          --metrics LIST  a comma list of metric names or prefixes (M5a selects M5), e.g. M2,M9
          --help          this text

        Prints one JSON object per measurement, the load average at the start and end, then a
        Markdown table. Metrics: \(Metric.all.map(\.name).joined(separator: ", ")).
        """

    static let quick = CommandLine.arguments.contains("--quick")
    static let selected: [String]? = CommandLine.arguments.firstIndex(of: "--metrics").flatMap { index in
        index + 1 < CommandLine.arguments.count
            ? CommandLine.arguments[index + 1].split(separator: ",").map(String.init) : nil
    }

    static func wanted(_ metric: String) -> Bool {
        selected?.contains { selects($0, metric) } ?? true
    }

    /// Whether `name` on the command line selects `metric`: a prefix of its name ("M2" selects
    /// M2-process, M2-thread and M2-async), or its name and a letter ("M5a" selects M5, which
    /// measures M5a and M5b). "M3-w4" does not select M3, nor "M99" M9.
    static func selects(_ name: String, _ metric: String) -> Bool {
        metric.hasPrefix(name) || (name.hasPrefix(metric) && name.dropFirst(metric.count).allSatisfy(\.isLowercase))
    }

    /// What is wrong with the command line, if anything (`nil`: run).
    static func problem(in arguments: [String]) -> String? {
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--quick": continue
            case "--metrics":
                guard let list = rest.popFirst() else { return "--metrics needs a comma list of metric names" }
                let unknown = list.split(separator: ",").map(String.init).filter { name in
                    !Metric.all.contains { selects(name, $0.name) }
                }
                if !unknown.isEmpty { return "no metric matches \(unknown.joined(separator: ", "))" }
            default: return "unknown argument \(argument)"
            }
        }
        return nil
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
