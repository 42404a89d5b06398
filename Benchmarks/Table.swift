// SPDX-License-Identifier: Apache-2.0
import Foundation

/// The results as a Markdown table: one row per metric and implementation.
func markdownTable(_ results: [Measurement]) -> String {
    var lines = ["| metric | impl | workers | median | p10 | p90 | unit | n |", "|---|---|---|---|---|---|---|---|"]
    for result in results {
        func cell(_ value: Double) -> String { String(format: value >= 100 ? "%.0f" : "%.3g", value) }
        lines.append(
            "| \(result.metric) | \(result.impl) | \(result.workers) | \(cell(result.median)) | "
                + "\(cell(result.percentile(0.1))) | \(cell(result.percentile(0.9))) | \(result.unit) | \(result.samples.count) |")
    }
    return lines.joined(separator: "\n")
}
