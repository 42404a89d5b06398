// SPDX-License-Identifier: Apache-2.0
/// A fixed-size log-linear histogram of durations, for a pool's ``LatencySummary``.
///
/// Each power of two of nanoseconds is split into 16 equal buckets, so a bucket's middle is within
/// 1/32 (about 3 %) of every duration in it; durations under 16 ns have a bucket each. The 976
/// counters cover every `UInt64` of nanoseconds and are allocated once, with the histogram:
/// ``record(_:)`` allocates nothing and takes no lock (the pool records under the lock it already
/// holds for the task's transition). The count and the maximum are exact.
struct LatencyHistogram: Sendable {
    /// Buckets per power of two: 2^subBucketBits.
    private static let subBucketBits = 4
    private static let subBuckets = 1 << subBucketBits
    static let bucketCount = (64 - subBucketBits + 1) * subBuckets

    private var counts: [UInt64]
    private(set) var count = 0
    private(set) var maxNanoseconds: UInt64 = 0

    init() {
        counts = Array(repeating: 0, count: Self.bucketCount)
    }

    mutating func record(_ duration: Duration) {
        record(nanoseconds: UInt64(max(0, duration.clampedNanoseconds)))
    }

    /// Records a duration given in nanoseconds (no `Duration` to build on the hot path).
    @inline(__always) mutating func record(nanoseconds: UInt64) {
        counts[Self.bucket(of: nanoseconds)] &+= 1
        count += 1
        if nanoseconds > maxNanoseconds { maxNanoseconds = nanoseconds }
    }

    /// The count, the maximum, and the 50th, 90th and 99th percentiles (each a bucket's middle,
    /// never above the maximum).
    var summary: LatencySummary {
        guard count > 0 else { return .empty }
        let targets = [0.50, 0.90, 0.99].map { UInt64((Double(count) * $0).rounded(.up)) }
        var values: [UInt64] = []
        var cumulative: UInt64 = 0
        for (bucket, bucketCount) in counts.enumerated() where bucketCount > 0 {
            cumulative += bucketCount
            while values.count < targets.count && cumulative >= targets[values.count] {
                values.append(min(Self.middle(of: bucket), maxNanoseconds))
            }
            if values.count == targets.count { break }
        }
        func duration(_ nanoseconds: UInt64) -> Duration {
            .seconds(Int64(nanoseconds / 1_000_000_000)) + .nanoseconds(Int64(nanoseconds % 1_000_000_000))
        }
        return LatencySummary(
            count: count, p50: duration(values[0]), p90: duration(values[1]),
            p99: duration(values[2]), max: duration(maxNanoseconds))
    }

    /// The bucket of `nanoseconds`: exact under 16; above, the power of two and the next 4 bits.
    static func bucket(of nanoseconds: UInt64) -> Int {
        guard nanoseconds >= UInt64(subBuckets) else { return Int(nanoseconds) }
        let shift = (63 - nanoseconds.leadingZeroBitCount) - subBucketBits
        return (shift + 1) * subBuckets + Int(nanoseconds >> UInt64(shift)) - subBuckets
    }

    /// The smallest duration in `bucket` and the bucket's width, in nanoseconds.
    static func bounds(of bucket: Int) -> (lower: UInt64, width: UInt64) {
        guard bucket >= subBuckets else { return (UInt64(bucket), 1) }
        let shift = bucket / subBuckets - 1
        let mantissa = UInt64(bucket % subBuckets + subBuckets)
        return (mantissa << UInt64(shift), 1 << UInt64(shift))
    }

    /// The middle of `bucket`, in nanoseconds.
    static func middle(of bucket: Int) -> UInt64 {
        let (lower, width) = bounds(of: bucket)
        return lower + width / 2
    }
}
