// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Pebble

// pebble-bench: swift-pebble's costs per task, detection and recovery delays, and a Dispatch
// baseline. One JSON object per line, then a Markdown table. `--quick` runs every metric small.

var results: [Measurement] = []
@MainActor func report(_ measurement: Measurement) {
    results.append(measurement)
    print(measurement.json)
    fflush(nil)
}

for metric in Metric.all where Options.wanted(metric.name) {
    do {
        for measurement in try metric.run() { report(measurement) }
    } catch {
        print(#"{"metric": "\#(metric.name)", "impl": "swift-pebble", "error": "\#(error)"}"#)
    }
}
print()
print(markdownTable(results))
