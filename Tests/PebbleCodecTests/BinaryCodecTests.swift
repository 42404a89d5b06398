// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import PebbleCodec

// MARK: - Fixtures

private struct BinarySmall: Codable, Equatable {
    var a: Int
    var b: Int
}

private struct BinaryAllScalars: Codable, Equatable {
    var i: Int = .min
    var i8: Int8 = .min
    var i16: Int16 = .min
    var i32: Int32 = .min
    var i64: Int64 = .max
    var u: UInt = .max
    var u8: UInt8 = .max
    var u16: UInt16 = .max
    var u32: UInt32 = .max
    var u64: UInt64 = .max
    var i128: Int128 = .min
    var u128: UInt128 = .max
    var f: Float = -1.5
    var d: Double = .pi
    var t: Bool = true
    var fl: Bool = false
    var s: String = "héllo wörld ✓ 日本語 👩‍👩‍👧"
    var empty: String = ""
}

private struct BinaryOptionals: Codable, Equatable {
    var none: Int?
    var some: Int?
    var string: String?
    var nested: Int??
    var nestedNil: Int??
    var small: BinarySmall?
    var array: [Int?]
    var nestedArray: [Int??]
}

private enum BinaryOutcome<V: Codable & Equatable>: Codable, Equatable {
    case value(V)
    case error(String)
}

private enum BinaryShape: Codable, Equatable {
    case circle(radius: Double)
    case rect(width: Double, height: Double)
    case point
    case labeled(String, Int, tags: [String])
}

private enum BinaryColor: String, Codable, CodingKeyRepresentable {
    case red, green, blue
}

private struct BinaryFn: Codable, Equatable {}

private struct BinaryJob: Codable, Equatable {
    let function: BinaryFn
    let inputs: [Int]
}

private indirect enum BinaryTree: Codable, Equatable {
    case leaf(Int)
    case node(BinaryTree, BinaryTree?)
}

private struct BinaryFoundationValues: Codable, Equatable {
    var date = Date(timeIntervalSince1970: 1_700_000_000.123)
    var url = URL(string: "https://example.com/a%20b?q=1#frag")!
    var relative = URL(string: "path/file", relativeTo: URL(string: "https://example.com/base/"))!
    var uuid = UUID()
    var decimal = Decimal(string: "-12345678901234567890.123456789")!
    var data = Data([0, 1, 2, 255])
}

private struct BinaryCollections: Codable, Equatable {
    var ints: [Int] = [1, -2, .max, .min]
    var int64s: [Int64] = [1, -2]
    var int32s: [Int32] = [3, .min]
    var uint64s: [UInt64] = [.max]
    var bytes: [UInt8] = [0, 255]
    var doubles: [Double] = [1.5, -.infinity]
    var floats: [Float] = [2.5, .greatestFiniteMagnitude]
    var bools: [Bool] = [true, false, true]
    var strings: [String] = ["a", "", "ü"]
    var int16s: [Int16] = [.min, .max]
    var uint32s: [UInt32] = [.max]
    var set: Set<Int> = [1, 2, 3]
    var byString: [String: Int] = ["one": 1, "two": 2]
    var byInt: [Int: String] = [1: "one", -7: "minus seven"]
    var byColor: [BinaryColor: Int] = [.red: 1, .blue: 3]
    var byUUID: [UUID: Int] = [UUID(): 1, UUID(): 2]
    var byDouble: [Double: String] = [1.5: "x"]
    var nested: [[Int]] = [[1], [], [2, 3]]
    var smalls: [BinarySmall] = [BinarySmall(a: 1, b: 2), BinarySmall(a: 3, b: 4)]
    var emptyInts: [Int] = []
    var emptyStrings: [String] = []
    var emptyDict: [String: Int] = [:]
    var emptyData = Data()
}

private class BinaryAnimal: Codable, Equatable {
    var name: String
    init(name: String) { self.name = name }
    static func == (lhs: BinaryAnimal, rhs: BinaryAnimal) -> Bool { lhs.isEqual(rhs) }
    func isEqual(_ other: BinaryAnimal) -> Bool { type(of: self) == type(of: other) && name == other.name }
}

/// Inheritance through `superEncoder()`/`superDecoder()`.
private final class BinaryDog: BinaryAnimal {
    var goodBoy: Bool
    init(name: String, goodBoy: Bool) {
        self.goodBoy = goodBoy
        super.init(name: name)
    }
    enum CodingKeys: String, CodingKey { case goodBoy }
    required init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        goodBoy = try container.decode(Bool.self, forKey: .goodBoy)
        try super.init(from: container.superDecoder())
    }
    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try super.encode(to: container.superEncoder())
        try container.encode(goodBoy, forKey: .goodBoy)
    }
    override func isEqual(_ other: BinaryAnimal) -> Bool {
        guard let other = other as? BinaryDog else { return false }
        return name == other.name && goodBoy == other.goodBoy
    }
}

/// Inheritance that shares the encoder with the superclass (keys merge into one container).
private final class BinaryCat: BinaryAnimal {
    var lives: Int
    init(name: String, lives: Int) {
        self.lives = lives
        super.init(name: name)
    }
    enum CodingKeys: String, CodingKey { case lives }
    required init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        lives = try container.decode(Int.self, forKey: .lives)
        try super.init(from: decoder)
    }
    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(lives, forKey: .lives)
        try super.encode(to: encoder)
    }
    override func isEqual(_ other: BinaryAnimal) -> Bool {
        guard let other = other as? BinaryCat else { return false }
        return name == other.name && lives == other.lives
    }
}

/// Exercises the container API by hand: keys out of order, contains, allKeys, decodeNil,
/// nested containers, unkeyed count/isAtEnd/currentIndex, superEncoder(forKey:).
private struct BinaryManual: Codable, Equatable {
    var x: Int
    var y: String
    var list: [Double]
    var inner: [String: Bool]
    var maybe: Int?

    enum Keys: String, CodingKey { case x, y, list, inner, maybe, base, missing }
    enum InnerKeys: String, CodingKey { case flag, other }

    init(x: Int, y: String, list: [Double], inner: [String: Bool], maybe: Int?) {
        (self.x, self.y, self.list, self.inner, self.maybe) = (x, y, list, inner, maybe)
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(x, forKey: .x)
        try c.encode(y, forKey: .y)
        var l = c.nestedUnkeyedContainer(forKey: .list)
        for d in list { try l.encode(d) }
        #expect(l.count == list.count)
        var n = c.nestedContainer(keyedBy: InnerKeys.self, forKey: .inner)
        try n.encode(inner["flag"] ?? false, forKey: .flag)
        try n.encode(inner["other"] ?? false, forKey: .other)
        if let maybe { try c.encode(maybe, forKey: .maybe) } else { try c.encodeNil(forKey: .maybe) }
        var sup = c.superEncoder(forKey: .base).singleValueContainer()
        try sup.encode("base")
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        #expect(Set(c.allKeys.map(\.stringValue)) == ["x", "y", "list", "inner", "maybe", "base"])
        #expect(c.contains(.x) && !c.contains(.missing))
        // Reverse order of encoding.
        let base = try c.superDecoder(forKey: .base).singleValueContainer().decode(String.self)
        #expect(base == "base")
        maybe = try c.decodeNil(forKey: .maybe) ? nil : try c.decode(Int.self, forKey: .maybe)
        let n = try c.nestedContainer(keyedBy: InnerKeys.self, forKey: .inner)
        inner = ["other": try n.decode(Bool.self, forKey: .other), "flag": try n.decode(Bool.self, forKey: .flag)]
        var l = try c.nestedUnkeyedContainer(forKey: .list)
        #expect(l.count == 3)
        var values: [Double] = []
        while !l.isAtEnd {
            #expect(l.currentIndex == values.count)
            values.append(try l.decode(Double.self))
        }
        list = values
        y = try c.decode(String.self, forKey: .y)
        x = try c.decode(Int.self, forKey: .x)
        #expect(try c.decodeIfPresent(Int.self, forKey: .missing) == nil)
        #expect(c.codingPath.isEmpty)
    }
}

/// Writes a nested container after its parent moved on (legal, forces the encoder's safe mode).
private struct BinaryInterleaved: Codable, Equatable {
    var a: [Int]
    var b: String
    var c: [String: Int]
    enum Keys: String, CodingKey { case a, b, c, d }
    enum Inner: String, CodingKey { case k }

    init(a: [Int], b: String, c: [String: Int]) { (self.a, self.b, self.c) = (a, b, c) }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        var first = container.nestedUnkeyedContainer(forKey: .a)
        var second = container.nestedContainer(keyedBy: Inner.self, forKey: .c)
        try container.encode(b, forKey: .b)
        for x in a { try first.encode(x) }
        try second.encode(c["k"] ?? 0, forKey: .k)
        let unused = container.superEncoder(forKey: .d)
        _ = unused
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        b = try container.decode(String.self, forKey: .b)
        var first = try container.nestedUnkeyedContainer(forKey: .a)
        var values: [Int] = []
        while !first.isAtEnd { values.append(try first.decode(Int.self)) }
        a = values
        c = ["k": try container.nestedContainer(keyedBy: Inner.self, forKey: .c).decode(Int.self, forKey: .k)]
        #expect(container.contains(.d))
    }
}

private struct BinaryWrapper: Codable, Equatable {
    var value: Int
    init(_ value: Int) { self.value = value }
    init(from decoder: any Decoder) throws { value = try decoder.singleValueContainer().decode(Int.self) }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(value)
    }
}

private struct BinaryNested: Codable, Equatable {
    var id: Int
    var name: String
    var tags: [String]
    var values: [Double]
    var children: [BinarySmall]
    var outcome: BinaryOutcome<Int>
    var map: [String: [Int]]
    var flag: Bool?
}

private func roundTrip<T: Codable & Equatable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let bytes = try BinaryEncoder().encode(value)
    let decoded = try BinaryDecoder().decode(T.self, from: bytes[...])
    #expect(decoded == value, sourceLocation: sourceLocation)
    let fromData = try BinaryDecoder().decode(T.self, from: Data(bytes))
    #expect(fromData == value, sourceLocation: sourceLocation)
}

private func decodingError<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) -> DecodingError? {
    do {
        _ = try BinaryDecoder().decode(type, from: bytes[...])
        return nil
    } catch let error as DecodingError {
        return error
    } catch {
        Issue.record("not a DecodingError: \(error)")
        return nil
    }
}

/// A deterministic generator (SplitMix64) so the fuzz test is reproducible.
private struct BinarySplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Tests

// No time limit: pure computation cannot hang, and under load a limit here only measured how
// long other suites' blocking tests held the cooperative pool's threads.
@Suite
struct BinaryCodecTests {
    @Test func scalars() throws {
        try roundTrip(BinaryAllScalars())
        try roundTrip(
            BinaryAllScalars(
                i: .max, i8: .max, i16: .max, i32: .max, i64: .min, u: 0, u8: 0, u16: 0, u32: 0,
                u64: 0, i128: .max, u128: 0, f: .infinity, d: -.infinity, t: false, fl: true))
        for value in [0, 1, -1, .max, .min] { try roundTrip(value) }
        try roundTrip(Int8.min)
        try roundTrip(UInt64.max)
        try roundTrip(true)
        try roundTrip("")
        try roundTrip("ünïcödé 🎉")
        try roundTrip(Double.leastNonzeroMagnitude)
        try roundTrip(-0.0)
        try roundTrip(Float.infinity)
    }

    @Test func nanKeepsItsBits() throws {
        let values: [Double] = [.nan, -.nan, .signalingNaN, Double(bitPattern: 0x7FF8_0000_DEAD_BEEF)]
        let decoded = try BinaryDecoder().decode([Double].self, from: Data(try BinaryEncoder().encode(values)))
        #expect(decoded.map(\.bitPattern) == values.map(\.bitPattern))
        let single = try BinaryDecoder().decode(Float.self, from: Data(try BinaryEncoder().encode(Float.nan)))
        #expect(single.isNaN)
        struct Box: Codable {
            var d: Double
            var f: Float
        }
        let box = try BinaryDecoder().decode(Box.self, from: Data(try BinaryEncoder().encode(Box(d: .nan, f: -.nan))))
        #expect(box.d.isNaN && box.f.isNaN)
    }

    @Test func optionals() throws {
        try roundTrip(
            BinaryOptionals(
                none: nil, some: 5, string: "s", nested: .some(.some(3)), nestedNil: .some(.none),
                small: BinarySmall(a: 1, b: 2), array: [1, nil, 3], nestedArray: [nil, .some(nil), 4]))
        try roundTrip(
            BinaryOptionals(
                none: nil, some: nil, string: nil, nested: nil, nestedNil: nil, small: nil,
                array: [], nestedArray: []))
        try roundTrip(Int?.none)
        try roundTrip(Int?.some(1))
        try roundTrip(Int??.some(.none))
        try roundTrip(Int??.none)
        try roundTrip(Int???.some(.some(.none)))
        try roundTrip([String??]([nil, .some(nil), "x"]))
        try roundTrip([BinarySmall?]([nil, BinarySmall(a: 1, b: 1)]))
    }

    @Test func enumsWithAssociatedValues() throws {
        try roundTrip(BinaryShape.circle(radius: 2))
        try roundTrip([BinaryShape.rect(width: 1, height: 2), .point, .labeled("l", 7, tags: ["a", "b"])])
        try roundTrip(BinaryOutcome<Int>.value(42))
        try roundTrip([BinaryOutcome<[Int]>.value([1, 2]), .error("boom")])
        try roundTrip(BinaryColor.green)
        try roundTrip(BinaryTree.node(.leaf(1), .node(.leaf(2), nil)))
    }

    @Test func collectionsAndDictionaries() throws {
        try roundTrip(BinaryCollections())
        try roundTrip([String: BinarySmall]())
        try roundTrip([Int]())
        try roundTrip([[String: [Int]]]([["a": [1]], [:]]))
        try roundTrip(Data())
        try roundTrip([UInt8]())
        try roundTrip([Bool]())
        try roundTrip(ContiguousArray([1, 2, 3]))
        try roundTrip(BinaryJob(function: BinaryFn(), inputs: Array(0..<100)))
        try roundTrip(BinaryFn())
    }

    @Test func foundationTypes() throws {
        try roundTrip(BinaryFoundationValues())
        try roundTrip(Date.distantPast)
        try roundTrip(URL(fileURLWithPath: "/tmp/a b/ç"))
        try roundTrip(UUID())
        try roundTrip([Decimal(0), Decimal(string: "3.14")!, Decimal.greatestFiniteMagnitude])
    }

    @Test func classInheritance() throws {
        let dog = try BinaryDecoder().decode(BinaryDog.self, from: Data(try BinaryEncoder().encode(BinaryDog(name: "Rex", goodBoy: true))))
        #expect(dog.name == "Rex" && dog.goodBoy)
        let cat = try BinaryDecoder().decode(BinaryCat.self, from: Data(try BinaryEncoder().encode(BinaryCat(name: "Tom", lives: 9))))
        #expect(cat.name == "Tom" && cat.lives == 9)
    }

    @Test func manualContainers() throws {
        try roundTrip(BinaryManual(x: 1, y: "y", list: [1, 2, 3], inner: ["flag": true, "other": false], maybe: nil))
        try roundTrip(BinaryManual(x: -1, y: "", list: [0, .infinity, -1], inner: ["flag": false, "other": true], maybe: 7))
        try roundTrip(BinaryWrapper(5))
        try roundTrip([BinaryWrapper(1), BinaryWrapper(2)])
    }

    @Test func interleavedNestedContainers() throws {
        try roundTrip(BinaryInterleaved(a: [1, 2, 3], b: "b", c: ["k": 9]))
        try roundTrip([BinaryInterleaved(a: [], b: "", c: ["k": 0])])
    }

    @Test func deepNesting() throws {
        var tree = BinaryTree.leaf(0)
        for i in 1...200 { tree = .node(tree, i % 2 == 0 ? .leaf(i) : nil) }
        try roundTrip(tree)
        var nested: [[[[[[Int]]]]]] = [[[[[[1, 2]]]]], []]
        nested[0][0][0][0].append([])
        try roundTrip(nested)
    }

    @Test func packedArraysInteroperateWithGenericDecoding() throws {
        let ints = try BinaryEncoder().encode([1, 2, 3])
        #expect(try BinaryDecoder().decode([Int32].self, from: ints[...]) == [1, 2, 3])
        #expect(try BinaryDecoder().decode(Set<Int>.self, from: ints[...]) == [1, 2, 3])
        #expect(try BinaryDecoder().decode([Int?].self, from: ints[...]) == [1, 2, 3])
        #expect(try BinaryDecoder().decode([BinaryWrapper].self, from: ints[...]) == [BinaryWrapper(1), BinaryWrapper(2), BinaryWrapper(3)])
        let set = try BinaryEncoder().encode(Set([4, 5]))
        #expect(Set(try BinaryDecoder().decode([Int].self, from: set[...])) == [4, 5])
        let bytes = try BinaryEncoder().encode(Data([1, 2]))
        #expect(try BinaryDecoder().decode([UInt8].self, from: bytes[...]) == [1, 2])
        #expect(try BinaryDecoder().decode([Int].self, from: bytes[...]) == [1, 2])
        let small = try BinaryEncoder().encode([Int32(1), -1])
        #expect(try BinaryDecoder().decode([Int].self, from: small[...]) == [1, -1])
    }

    @Test func appendsAfterExistingBytes() throws {
        var buffer: [UInt8] = [0xAA, 0xBB]
        try BinaryEncoder().encode(BinarySmall(a: 1, b: 2), into: &buffer)
        #expect(buffer.prefix(2) == [0xAA, 0xBB])
        #expect(try BinaryDecoder().decode(BinarySmall.self, from: buffer[2...]) == BinarySmall(a: 1, b: 2))
        let viaPointer = try buffer.withUnsafeBytes { raw in
            try BinaryDecoder().decode(BinarySmall.self, from: UnsafeRawBufferPointer(rebasing: raw[2...]))
        }
        #expect(viaPointer == BinarySmall(a: 1, b: 2))
    }

    @Test func errors() throws {
        let good = try BinaryEncoder().encode(BinarySmall(a: 1, b: 2))
        // Truncated.
        for length in 0..<good.count {
            guard case .dataCorrupted? = decodingError(BinarySmall.self, Array(good.prefix(length))) else {
                Issue.record("truncation to \(length) bytes was not dataCorrupted")
                continue
            }
        }
        // Trailing garbage is rejected.
        guard case .dataCorrupted(let context)? = decodingError(BinarySmall.self, good + [0]) else {
            Issue.record("trailing byte accepted")
            return
        }
        #expect(context.debugDescription.contains("trailing"))
        // Wrong type, with the key in the coding path.
        struct AsString: Decodable { var a: String }
        guard case .typeMismatch(_, let mismatch)? = decodingError(AsString.self, good) else {
            Issue.record("expected typeMismatch")
            return
        }
        #expect(mismatch.codingPath.map(\.stringValue) == ["a"])
        // Missing key.
        struct NeedsC: Decodable {
            var a: Int
            var c: Int
        }
        guard case .keyNotFound(let key, _)? = decodingError(NeedsC.self, good) else {
            Issue.record("expected keyNotFound")
            return
        }
        #expect(key.stringValue == "c")
        // Nil where a value is required.
        struct HasNil: Encodable {
            var a: Int?
            enum K: CodingKey { case a, b }
            func encode(to e: any Encoder) throws {
                var c = e.container(keyedBy: K.self)
                try c.encodeNil(forKey: .a)
                try c.encode(1, forKey: .b)
            }
        }
        guard case .valueNotFound? = decodingError(BinarySmall.self, try BinaryEncoder().encode(HasNil())) else {
            Issue.record("expected valueNotFound")
            return
        }
        // A number that does not fit.
        guard case .dataCorrupted? = decodingError(Int8.self, try BinaryEncoder().encode(1000)) else {
            Issue.record("expected dataCorrupted for overflow")
            return
        }
        // Deep coding paths.
        let nested = try BinaryEncoder().encode(["k": [BinarySmall(a: 1, b: 2)]])
        struct Wrong: Decodable {
            var a: Int
            var b: String
        }
        guard case .typeMismatch(_, let deep)? = decodingError([String: [Wrong]].self, nested) else {
            Issue.record("expected typeMismatch")
            return
        }
        #expect(deep.codingPath.map(\.stringValue) == ["k", "Index 0", "b"])
        // Unknown tag, invalid UTF-8, and a huge claimed length.
        guard case .dataCorrupted? = decodingError(Int.self, [0x7F]) else {
            Issue.record("unknown tag")
            return
        }
        guard case .dataCorrupted? = decodingError(String.self, [0x10, 2, 0xC3, 0x28]) else {
            Issue.record("UTF-8")
            return
        }
        guard case .dataCorrupted? = decodingError([Int].self, [0x26, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) else {
            Issue.record("huge length")
            return
        }
        guard case .dataCorrupted? = decodingError([Int].self, []) else {
            Issue.record("empty input")
            return
        }
    }

    @Test func encoderMisuseThrowsAndLeavesBufferIntact() throws {
        struct Twice: Encodable {
            func encode(to encoder: any Encoder) throws {
                var c = encoder.singleValueContainer()
                try c.encode(1)
                try c.encode(2)
            }
        }
        var buffer: [UInt8] = [1, 2, 3]
        #expect(throws: EncodingError.self) { try BinaryEncoder().encode([Twice()], into: &buffer) }
        #expect(buffer == [1, 2, 3])
        struct Thrower: Encodable {
            struct Boom: Error {}
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: BinaryManual.Keys.self)
                try c.encode(1, forKey: .x)
                throw Boom()
            }
        }
        #expect(throws: Thrower.Boom.self) { try BinaryEncoder().encode(["a": Thrower()], into: &buffer) }
        #expect(buffer == [1, 2, 3])
        // The encoder still works afterwards (its per-thread state was reset).
        try roundTrip(BinarySmall(a: 5, b: 6))
    }

    @Test func hostileNestingIsRejected() throws {
        // 100,000 nested unkeyed containers, each claiming the rest of the input.
        let depth = 100_000
        var bytes = [UInt8]()
        bytes.reserveCapacity(depth * 9 + 1)
        for level in 0..<depth {
            let body = UInt32((depth - level - 1) * 9 + 1)
            bytes.append(BinaryTag.unkeyed)
            withUnsafeBytes(of: UInt32(1).littleEndian) { bytes.append(contentsOf: $0) }
            withUnsafeBytes(of: body.littleEndian) { bytes.append(contentsOf: $0) }
        }
        bytes.append(BinaryTag.null)
        indirect enum Deep: Decodable {
            case list([Deep?])
            init(from decoder: any Decoder) throws { self = .list(try [Deep?](from: decoder)) }
        }
        guard case .dataCorrupted(let context)? = decodingError(Deep.self, bytes) else {
            Issue.record("deep nesting was not rejected")
            return
        }
        #expect(context.debugDescription.contains("nesting"))
    }

    @Test func fuzzNeverCrashes() throws {
        var rng = BinarySplitMix(state: 0x5EED)
        let sample = BinaryNested(
            id: 7, name: "fuzz ✓", tags: ["a", "bb", ""], values: [1.5, -2],
            children: [BinarySmall(a: 1, b: 2), BinarySmall(a: -3, b: 4)], outcome: .value(3),
            map: ["x": [1, 2], "": []], flag: true)
        let valid = try BinaryEncoder().encode(sample)
        #expect(try BinaryDecoder().decode(BinaryNested.self, from: valid[...]) == sample)
        let errorSample = try BinaryEncoder().encode([
            sample,
            BinaryNested(
                id: 0, name: "", tags: [], values: [], children: [], outcome: .error("e"), map: [:], flag: nil)
        ])
        var attempts = 0
        var decodedCount = 0
        func attempt(_ bytes: [UInt8]) {
            attempts += 1
            do {
                _ = try BinaryDecoder().decode(BinaryNested.self, from: bytes[...])
                decodedCount += 1
            } catch is DecodingError {
            } catch {
                Issue.record("unexpected error type \(error)")
            }
            _ = try? BinaryDecoder().decode([BinaryNested].self, from: bytes[...])
            _ = try? BinaryDecoder().decode([String: [Int?]].self, from: bytes[...])
        }
        for source in [valid, errorSample] {
            for length in 0...source.count { attempt(Array(source.prefix(length))) }
            for _ in 0..<1500 {
                var bytes = source
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let index = Int.random(in: 0..<bytes.count, using: &rng)
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: bytes[index] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
                    case 1: bytes[index] = UInt8.random(in: 0...255, using: &rng)
                    default: bytes[index] = [0x00, 0x12, 0x13, 0x14, 0x26, 0x80, 0xFF].randomElement(using: &rng)!
                    }
                }
                attempt(bytes)
            }
        }
        for _ in 0..<2000 {
            let length = Int.random(in: 0...64, using: &rng)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if !bytes.isEmpty && Bool.random(using: &rng) { bytes[0] = [0x12, 0x13, 0x26][Int.random(in: 0..<3, using: &rng)] }
            attempt(bytes)
        }
        #expect(attempts > 5000)
        #expect(decodedCount > 0)
    }

    @Test func largeValues() throws {
        struct Payload: Codable, Equatable { var data: Data }
        var rng = BinarySplitMix(state: 1)
        var raw = [UInt8](repeating: 0, count: 10_000_000)
        for i in stride(from: 0, to: raw.count, by: 4096) { raw[i] = UInt8.random(in: 0...255, using: &rng) }
        let payload = Payload(data: Data(raw))
        let encoded = try BinaryEncoder().encode(payload)
        #expect(encoded.count < 10_000_100)
        #expect(try BinaryDecoder().decode(Payload.self, from: encoded[...]) == payload)

        let ints: [Int] = (0..<1_000_000).map { $0 &* 2_654_435_761 }
        let encodedInts = try BinaryEncoder().encode(ints)
        #expect(encodedInts.count == 1 + 3 + 8_000_000) // tag, varint count, elements
        #expect(try BinaryDecoder().decode([Int].self, from: encodedInts[...]) == ints)
    }
}
