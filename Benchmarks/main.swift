// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Pebble

// pebble-bench: swift-pebble's costs per task, detection and recovery delays, and Swift's own
// peers (Dispatch, TaskGroup, Task.detached) on the thread-pool rows. One JSON object per line
// (and the load average at the start and end), then a Markdown table. `--quick` runs every metric small.

/// The load averages now, as one JSON line (compare.sh keeps them with the round's results).
func reportLoad(_ when: String) {
    let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
    let fields = text.split(separator: " ").prefix(3).map(String.init)
    print(#"{"kind": "load", "when": "\#(when)", "loadavg": [\#(fields.joined(separator: ", "))]}"#)
    fflush(nil)
}

var results: [Measurement] = []
@MainActor func report(_ measurement: Measurement) {
    results.append(measurement)
    print(measurement.json)
    fflush(nil)
}

if CommandLine.arguments.contains("--help") || CommandLine.arguments.contains("-h") {
    print(Options.usage)
    exit(0)
}
if let problem = Options.problem(in: Array(CommandLine.arguments.dropFirst())) {
    FileHandle.standardError.write(Data("pebble-bench: \(problem)\n\n\(Options.usage)\n".utf8))
    exit(2)
}

reportLoad("start")
for metric in Metric.all where Options.wanted(metric.name) {
    do {
        for measurement in try metric.run() { report(measurement) }
    } catch {
        print(#"{"metric": "\#(metric.name)", "impl": "swift-pebble", "error": "\#(error)"}"#)
    }
}
reportLoad("end")
print()
print(markdownTable(results))
