// SPDX-License-Identifier: Apache-2.0
/// How long a pool's tasks waited or ran: an exact count, and percentiles within 5 %.
///
/// Both pools keep two of them over their life, in their statistics: `waitTime` (from `schedule`
/// until a worker takes the task) and `runTime` (from the take to the task's outcome). A map chunk
/// counts as one task.
///
/// ```swift
/// let run = pool.statistics.runTime
/// print("tasks: \(run.count), p99: \(run.p99), slowest: \(run.max)")
/// ```
///
/// It encodes as JSON numbers of seconds, ready for a `/stats` route:
/// `{"count": 1200, "p50": 0.0021, "p90": 0.0043, "p99": 0.012, "max": 0.031}`.
public struct LatencySummary: Sendable, Hashable, Codable, CustomStringConvertible {
    /// How many durations were recorded (exact).
    ///
    /// ```swift
    /// if pool.statistics.waitTime.count == 0 { print("no task has started yet") }
    /// ```
    public var count: Int
    /// The median, within 5 %.
    ///
    /// ```swift
    /// print("typical run:", pool.statistics.runTime.p50)
    /// ```
    public var p50: Duration
    /// The 90th percentile, within 5 %.
    ///
    /// ```swift
    /// print("p90 wait:", pool.statistics.waitTime.p90)
    /// ```
    public var p90: Duration
    /// The 99th percentile, within 5 %.
    ///
    /// ```swift
    /// if pool.statistics.waitTime.p99 > .milliseconds(500) { print("add workers") }
    /// ```
    public var p99: Duration
    /// The longest duration recorded (exact).
    ///
    /// ```swift
    /// print("slowest task:", pool.statistics.runTime.max)
    /// ```
    public var max: Duration

    /// Nothing recorded: count 0, every duration `.zero`.
    ///
    /// ```swift
    /// assert(try ThreadPool().statistics.runTime == .empty)
    /// ```
    public static let empty = LatencySummary(count: 0, p50: .zero, p90: .zero, p99: .zero, max: .zero)

    /// Creates a summary from its figures.
    ///
    /// ```swift
    /// let summary = LatencySummary(count: 1, p50: .milliseconds(3), p90: .milliseconds(3),
    ///                              p99: .milliseconds(3), max: .milliseconds(3))
    /// ```
    public init(count: Int, p50: Duration, p90: Duration, p99: Duration, max: Duration) {
        self.count = count
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.max = max
    }

    /// One line: count and each figure.
    ///
    /// ```swift
    /// print(pool.statistics.runTime)   // count 1200, p50 2.1 ms, p90 4.3 ms, p99 12 ms, max 31 ms
    /// ```
    public var description: String {
        "count \(count), p50 \(p50.shortDescription), p90 \(p90.shortDescription), p99 \(p99.shortDescription), max \(max.shortDescription)"
    }

    private enum CodingKeys: String, CodingKey { case count, p50, p90, p99, max }

    /// Decodes the JSON form: `count` and each duration in seconds (resolution: a nanosecond).
    ///
    /// ```swift
    /// let summary = try JSONDecoder().decode(LatencySummary.self, from: data)
    /// ```
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        count = try container.decode(Int.self, forKey: .count)
        func duration(_ key: CodingKeys) throws -> Duration {
            Duration.nanoseconds(Int64((try container.decode(Double.self, forKey: key) * 1e9).rounded()))
        }
        p50 = try duration(.p50)
        p90 = try duration(.p90)
        p99 = try duration(.p99)
        max = try duration(.max)
    }

    /// Encodes `count` and each duration in seconds.
    ///
    /// ```swift
    /// let json = try JSONEncoder().encode(pool.statistics.runTime)
    /// ```
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(count, forKey: .count)
        try container.encode(p50.seconds, forKey: .p50)
        try container.encode(p90.seconds, forKey: .p90)
        try container.encode(p99.seconds, forKey: .p99)
        try container.encode(max.seconds, forKey: .max)
    }
}

extension Duration {
    /// A short reading for logs: `850 ns`, `2.1 ms`, `1.5 s`.
    var shortDescription: String {
        let seconds = self.seconds
        func rounded(_ value: Double) -> String {
            value >= 100 ? String(Int(value.rounded())) : String((value * 10).rounded() / 10)
        }
        switch abs(seconds) {
        case ..<1e-6: return "\(Int((seconds * 1e9).rounded())) ns"
        case ..<1e-3: return rounded(seconds * 1e6) + " µs"
        case ..<1: return rounded(seconds * 1e3) + " ms"
        default: return rounded(seconds) + " s"
        }
    }
}
