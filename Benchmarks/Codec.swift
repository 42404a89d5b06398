// SPDX-License-Identifier: Apache-2.0
import Foundation
import PebbleCodec

/// C: the binary codec alone, one encode + decode per operation, µs. Built with
/// `-Xswiftc -DPEBBLE_CODEC_NO_PACKED` (or `_NO_BYTES`, `_NO_STRING_ARRAY`, `_NO_BOOL_ARRAY`,
/// `_NO_THREAD_CACHE`) it measures the codec without that fast path, for the figures in the
/// codec's comments. C-frame compares a 1 MB `Data` encoded in place after a frame header
/// (`encode(_:into:)`) with an encode into its own array copied into the frame.
func codecRoundTrips() throws -> [Measurement] {
    struct Small: Codable, Equatable {
        let id: Int
        let name: String
        let score: Double
        let tags: [Int]
    }
    let ints = Array(0..<1000)
    let data = Data((0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
    let strings = (0..<100).map { "string \($0)" }
    let bools = (0..<1000).map { $0 % 3 == 0 }
    let small = Small(id: 42, name: "pebble", score: 0.5, tags: [1, 2, 3, 4])

    func roundTrip<T: Codable & Equatable>(_ value: T) throws {
        let bytes = try BinaryEncoder().encode(value)
        let back = try bytes.withUnsafeBytes { try BinaryDecoder().decode(T.self, from: $0) }
        guard back == value else { throw CodecMismatch() }
    }
    /// µs per call of `body`, over batches of `repeats` calls.
    func micros(_ repeats: Int, _ body: () throws -> Void) throws -> [Double] {
        for _ in 0..<max(1, repeats / 10) { try body() }
        return try (0..<scaled(15, quick: 3)).map { _ in
            try time { for _ in 0..<repeats { try body() } } * 1e6 / Double(repeats)
        }
    }
    let n = scaled(2000, quick: 50)
    func row(_ metric: String, _ samples: [Double], impl: String = pebble) -> Measurement {
        Measurement(metric: metric, impl: impl, workers: 0, unit: "us", samples: samples)
    }
    var rows = [
        row("C-ints", try micros(n) { try roundTrip(ints) }),
        row("C-data", try micros(max(1, n / 20)) { try roundTrip(data) }),
        row("C-strings", try micros(n) { try roundTrip(strings) }),
        row("C-bools", try micros(n) { try roundTrip(bools) }),
        row("C-small", try micros(n * 10) { try roundTrip(small) })
    ]
    let frames = max(1, n / 20)
    let inPlace = try micros(frames) {
        var frame: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 1]
        try BinaryEncoder().encode(data, into: &frame)
        guard frame.count > data.count else { throw CodecMismatch() }
    }
    let copied = try micros(frames) {
        let body = try BinaryEncoder().encode(data)
        var frame: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 1]
        frame.reserveCapacity(frame.count + body.count)
        frame.append(contentsOf: body)
        guard frame.count > data.count else { throw CodecMismatch() }
    }
    rows.append(row("C-frame", inPlace, impl: "in-place"))
    rows.append(row("C-frame", copied, impl: "copy"))
    return rows
}

struct CodecMismatch: Error {}
