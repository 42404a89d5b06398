// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import PebbleCodec

/// A job-shaped value: a payload among a few small fields.
private struct PayloadJob: Codable, Equatable {
    var id: Int
    var data: Data
    var name: String
}

private struct BytesJob: Codable, Equatable {
    var bytes: [UInt8]
    var tag: Int
}

/// Writes its second field into a nested container opened before the first one's: the encoder
/// retries in safe mode.
private struct OutOfOrder: Codable, Equatable {
    var data: Data
    var n: Int
    enum CodingKeys: String, CodingKey { case first, second }
    enum Inner: String, CodingKey { case value }
    init(data: Data, n: Int) {
        self.data = data
        self.n = n
    }
    func encode(to encoder: any Encoder) throws {
        var outer = encoder.container(keyedBy: CodingKeys.self)
        var first = outer.nestedContainer(keyedBy: Inner.self, forKey: .first)
        var second = outer.nestedContainer(keyedBy: Inner.self, forKey: .second)
        try second.encode(n, forKey: .value)
        try first.encode(data, forKey: .value)
    }
    init(from decoder: any Decoder) throws {
        let outer = try decoder.container(keyedBy: CodingKeys.self)
        data = try outer.nestedContainer(keyedBy: Inner.self, forKey: .first).decode(Data.self, forKey: .value)
        n = try outer.nestedContainer(keyedBy: Inner.self, forKey: .second).decode(Int.self, forKey: .value)
    }
}

/// Encodes `value` with external blocks from `threshold` on, after a 3-byte prefix; checks that
/// the joined result is what a plain encode writes, and returns the blocks.
private func externalized<T: Codable & Equatable>(
    _ value: T, threshold: Int = 1000,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> [BinaryExternalBlock] {
    var bytes: [UInt8] = [9, 9, 9]
    var blocks: [BinaryExternalBlock] = []
    try BinaryEncoder().encode(value, into: &bytes, externalizingBlocksFrom: threshold, blocks: &blocks)
    let joined = BinaryExternalBlock.joined(bytes, blocks)
    #expect(joined == [9, 9, 9] + (try BinaryEncoder().encode(value)), sourceLocation: sourceLocation)
    #expect(try BinaryDecoder().decode(T.self, from: joined[3...]) == value, sourceLocation: sourceLocation)
    #expect(bytes.count + blocks.reduce(0) { $0 + $1.count } == joined.count, sourceLocation: sourceLocation)
    return blocks
}

/// `count` bytes that differ from one position to the next (so a misplaced view shows): a block
/// of a prime length repeated, quick to make in a debug or sanitizer build.
private func pattern(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
    let block = (0..<4093).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8 &+ Int(seed)) }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count)
    while bytes.count < count { bytes += block.prefix(count - bytes.count) }
    return bytes
}

/// Whether `data`'s bytes lie inside `array`'s storage (a view, not a copy).
private func isView(_ data: Data, of array: [UInt8]) -> Bool {
    let inner = data.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
    return array.withUnsafeBytes { outer in
        let start = UInt(bitPattern: outer.baseAddress)
        return inner >= start && inner + UInt(data.count) <= start + UInt(outer.count)
    }
}

/// The large-payload paths: `Data` decoded as a view of the received buffer, `Data` and `[UInt8]`
/// written with one copy.
// No time limit: pure computation cannot hang, and under load a limit here only measured how
// long other suites' blocking tests held the cooperative pool's threads.
@Suite
struct BinaryPayloadTests {
    static let large = 1 << 20

    @Test func largeDataIsDecodedAsAViewOfTheInput() throws {
        let payload = Data(pattern(Self.large))
        let encoded = try BinaryEncoder().encode(payload)
        let decoded = try BinaryDecoder().decode(Data.self, from: encoded[...])
        #expect(decoded == payload)
        #expect(isView(decoded, of: encoded))
        let job = PayloadJob(id: 7, data: payload, name: "x")
        let encodedJob = try BinaryEncoder().encode(job)
        let decodedJob = try BinaryDecoder().decode(PayloadJob.self, from: encodedJob[...])
        #expect(decodedJob == job)
        #expect(isView(decodedJob.data, of: encodedJob))
    }

    @Test func aViewKeepsItsInputAlive() throws {
        func decodeFromATemporaryBuffer() throws -> Data {
            let encoded = try BinaryEncoder().encode(PayloadJob(id: 1, data: Data(pattern(Self.large, seed: 9)), name: "n"))
            return try BinaryDecoder().decode(PayloadJob.self, from: encoded[...]).data
        }
        let data = try decodeFromATemporaryBuffer()
        // The array is gone; the view still reads its bytes (freed memory would fail under ASan,
        // and would soon be overwritten by these allocations without it).
        let churn = (0..<8).map { _ in [UInt8](repeating: 0xEE, count: Self.large) }
        #expect(data == Data(pattern(Self.large, seed: 9)))
        #expect(churn.count == 8)
    }

    @Test func viewsRespectTheSliceOffset() throws {
        // A frame: a header, then the value (as the pool hands a frame body to the decoder).
        var frame: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8, 0x56]
        let payload = Data(pattern(Self.large, seed: 3))
        try BinaryEncoder().encode(payload, into: &frame)
        let decoded = try BinaryDecoder().decode(Data.self, from: frame[9...])
        #expect(decoded == payload)
        #expect(decoded.startIndex == 0)
        #expect(isView(decoded, of: frame))
    }

    @Test func smallOrMinorDataIsCopied() throws {
        let small = Data(pattern(BinaryDecoder.viewThreshold - 1))
        let encodedSmall = try BinaryEncoder().encode(small)
        let decodedSmall = try BinaryDecoder().decode(Data.self, from: encodedSmall[...])
        #expect(decodedSmall == small)
        #expect(!isView(decodedSmall, of: encodedSmall))
        // Large, but less than half of the input: a view would hold on to the rest.
        struct TwoPayloads: Codable, Equatable {
            var a: Data
            var b: [Int]
        }
        let two = TwoPayloads(a: Data(pattern(Self.large)), b: Array(repeating: 5, count: Self.large / 4))
        let encodedTwo = try BinaryEncoder().encode(two)
        let decodedTwo = try BinaryDecoder().decode(TwoPayloads.self, from: encodedTwo[...])
        #expect(decodedTwo == two)
        #expect(!isView(decodedTwo.a, of: encodedTwo))
    }

    @Test func dataFromAPointerOrDataInputIsCopied() throws {
        let payload = Data(pattern(Self.large))
        let encoded = try BinaryEncoder().encode(payload)
        let fromPointer = try encoded.withUnsafeBytes { try BinaryDecoder().decode(Data.self, from: $0) }
        #expect(fromPointer == payload)
        #expect(!isView(fromPointer, of: encoded))
        #expect(try BinaryDecoder().decode(Data.self, from: Data(encoded)) == payload)
    }

    @Test func decodingDoesNotRetainTheInput() throws {
        // The cached decoder state must forget its input: the array is unique again after the
        // decode, so writing to it does not copy it.
        var encoded = try BinaryEncoder().encode(PayloadJob(id: 2, data: Data(pattern(Self.large)), name: "k"))
        let before = encoded.withUnsafeBytes { $0.baseAddress }
        _ = try BinaryDecoder().decode(PayloadJob.self, from: encoded[...]).id
        _ = try BinaryDecoder().decode(Int.self, from: try BinaryEncoder().encode(5)[...])
        encoded[0] = encoded[0]
        #expect(encoded.withUnsafeBytes { $0.baseAddress } == before)
    }

    @Test func mutatingTheInputAfterwardsLeavesTheViewAlone() throws {
        let payload = Data(pattern(Self.large))
        var encoded = try BinaryEncoder().encode(payload)
        let decoded = try BinaryDecoder().decode(Data.self, from: encoded[...])
        for index in encoded.indices { encoded[index] = 0 }
        #expect(decoded == payload)
    }

    @Test func largeByteArraysRoundTrip() throws {
        let bytes = pattern(Self.large, seed: 5)
        let encoded = try BinaryEncoder().encode(bytes)
        #expect(encoded.count == 1 + 3 + Self.large) // tag, varint length, the bytes
        #expect(try BinaryDecoder().decode([UInt8].self, from: encoded[...]) == bytes)
        #expect(try BinaryDecoder().decode(Data.self, from: encoded[...]) == Data(bytes))
        let job = BytesJob(bytes: bytes, tag: -1)
        let encodedJob = try BinaryEncoder().encode(job)
        #expect(try BinaryDecoder().decode(BytesJob.self, from: encodedJob[...]) == job)
        // A slice of an array, encoded as a plain array, decodes to the same bytes.
        let slice = Array(bytes[1000..<300_000])
        let encodedSlice = try BinaryEncoder().encode(slice)
        #expect(try BinaryDecoder().decode([UInt8].self, from: encodedSlice[...]) == slice)
    }

    @Test func dataSlicesAndEmptyPayloadsRoundTrip() throws {
        let whole = Data(pattern(3 * Self.large))
        let slice = whole[Self.large..<(2 * Self.large + 17)]
        let encoded = try BinaryEncoder().encode(slice)
        let decoded = try BinaryDecoder().decode(Data.self, from: encoded[...])
        #expect(decoded == slice)
        #expect(decoded.startIndex == 0)
        for empty in [Data(), whole[5..<5]] {
            let encodedEmpty = try BinaryEncoder().encode(empty)
            #expect(encodedEmpty == [BinaryTag.bytes, 0])
            #expect(try BinaryDecoder().decode(Data.self, from: encodedEmpty[...]).isEmpty)
        }
        #expect(try BinaryDecoder().decode([UInt8].self, from: try BinaryEncoder().encode([UInt8]())[...]).isEmpty)
        let jobs = [PayloadJob(id: 1, data: Data(), name: ""), PayloadJob(id: 2, data: Data(pattern(Self.large)), name: "b")]
        let encodedJobs = try BinaryEncoder().encode(jobs)
        #expect(try BinaryDecoder().decode([PayloadJob].self, from: encodedJobs[...]) == jobs)
    }

    @Test func aTruncatedLargePayloadIsRejected() throws {
        let encoded = try BinaryEncoder().encode(Data(pattern(Self.large)))
        #expect(throws: DecodingError.self) { try BinaryDecoder().decode(Data.self, from: encoded.dropLast()) }
        #expect(throws: DecodingError.self) { try BinaryDecoder().decode([UInt8].self, from: encoded.dropLast()) }
    }

    @Test func encodingAPayloadIntoAFrameCopiesItOnce() throws {
        // Appended after a header in place: the frame ends up exactly as long as its content.
        var frame: [UInt8] = Array(repeating: 0, count: 9)
        try BinaryEncoder().encode(PayloadJob(id: 3, data: Data(pattern(Self.large)), name: "z"), into: &frame)
        #expect(frame.count > 9 + Self.large)
        #expect(frame.capacity < frame.count + frame.count / 8)
    }

    @Test func externalBlocksLeaveLargePayloadsOutOfTheOutput() throws {
        let data = Data(pattern(5000))
        #expect(try externalized(data).map(\.count) == [5000])
        #expect(try externalized(PayloadJob(id: 1, data: data, name: "after")).map(\.count) == [5000])
        #expect(try externalized(BytesJob(bytes: pattern(3000), tag: 4)).map(\.count) == [3000])
        let jobs = [
            PayloadJob(id: 1, data: data, name: "a"), PayloadJob(id: 2, data: Data([1, 2]), name: "b"),
            PayloadJob(id: 3, data: Data(pattern(1000, seed: 1)), name: "c")
        ]
        #expect(try externalized(jobs).map(\.count) == [5000, 1000])
        #expect(try externalized(["k": [PayloadJob(id: 4, data: data, name: "")]]).map(\.count) == [5000])
        // Below the threshold, empty, or in a value that needs the safe-mode retry: inline.
        #expect(try externalized(Data(pattern(999))).isEmpty)
        #expect(try externalized(Data()).isEmpty)
        #expect(try externalized(PayloadJob(id: 0, data: Data(), name: ""), threshold: 0).isEmpty)
        #expect(try externalized(OutOfOrder(data: data, n: 5)).isEmpty)
        // The block holds the value's own storage: no copy was made.
        let bytes = pattern(4000)
        let blocks = try externalized(BytesJob(bytes: bytes, tag: 0))
        #expect(blocks.first?.withUnsafeBytes { $0.baseAddress } == bytes.withUnsafeBytes { $0.baseAddress })
    }

    @Test func aFailedEncodeLeavesTheBlocksAsTheyWere() throws {
        struct Failing: Encodable {
            func encode(to encoder: any Encoder) throws {
                var container = encoder.unkeyedContainer()
                try container.encode(Data(pattern(5000)))
                throw EncodingError.invalidValue(0, .init(codingPath: [], debugDescription: "no"))
            }
        }
        var bytes: [UInt8] = [1]
        var blocks: [BinaryExternalBlock] = []
        #expect(throws: EncodingError.self) {
            try BinaryEncoder().encode(Failing(), into: &bytes, externalizingBlocksFrom: 100, blocks: &blocks)
        }
        #expect(bytes == [1])
        #expect(blocks.isEmpty)
        // The encoder state went back to its cache without the threshold: the next encode is whole.
        #expect(try BinaryEncoder().encode(Data(pattern(5000))).count == 1 + 2 + 5000)
    }
}
