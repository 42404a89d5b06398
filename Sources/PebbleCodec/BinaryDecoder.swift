// SPDX-License-Identifier: Apache-2.0
import Foundation

/// Decodes `Decodable` values from Pebble's compact binary format (wire format: BinaryFormat.swift).
///
/// Safe on hostile or corrupted input: every read is bounds-checked, every count and length is
/// checked against the bytes that remain before anything is allocated, nesting is limited, and
/// every failure is a `DecodingError` with a coding path. Bytes after the value are rejected.
package struct BinaryDecoder: Sendable {
    /// Deepest nesting of `init(from:)` calls accepted before the input is declared corrupt,
    /// so that hostile input for a recursive type cannot overflow the stack.
    static let maxNesting = 512

    /// Creates a decoder.
    package init() {}

    /// `Data` values of at least this many bytes that fill more than half of an `ArraySlice`
    /// input are decoded as views of it rather than copies (see the `ArraySlice` overload of `decode`).
    package static let viewThreshold = 64 * 1024

    /// Decodes a `T` that must fill `bytes` exactly. The memory need only stay valid during the call.
    package func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> T {
        try decode(type, from: bytes, owner: nil)
    }

    /// Decodes from `bytes`, which `owner` (when there is one) keeps alive and unchanged.
    private func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer, owner: (any Sendable)?) throws -> T {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: [], debugDescription: "BinaryDecoder: the input is empty"))
        }
        var state = binaryDecoderCache.take() ?? BinaryDecodingState()
        state.attach(base, bytes.count, owner: owner)
        defer { BinaryDecodingState.detach(&state) }
        do {
            let end = try state.valueEnd(at: 0, limit: bytes.count)
            guard end == bytes.count else {
                throw BinaryFault(.corrupted, "\(bytes.count - end) trailing bytes after the value")
            }
        } catch let fault as BinaryFault {
            throw fault.error(T.self, [])
        }
        return try state.decodeTopLevel(T.self)
    }

    /// Decodes a `T` that must fill `bytes` exactly.
    ///
    /// A large `Data` in the value (at least ``viewThreshold`` bytes, and more than half of
    /// `bytes`: a payload, not a field among many) is not copied: it is a view of `bytes`'
    /// storage, which it keeps alive. That storage is then shared: a caller that mutates `bytes`
    /// gets its own copy (copy-on-write), but mutating such a `Data` in place, while it is the
    /// only reference to its bytes, writes into the storage `bytes` still shows. Callers pass
    /// buffers they are done with (the pool's received frames).
    ///
    /// ```swift
    /// let frame: [UInt8] = try BinaryEncoder().encode(Data(count: 1 << 20))
    /// let data = try BinaryDecoder().decode(Data.self, from: frame[...])   // no copy of the 1 MB
    /// ```
    package func decode<T: Decodable>(_ type: T.Type, from bytes: ArraySlice<UInt8>) throws -> T {
        try bytes.withUnsafeBytes { try decode(type, from: $0, owner: bytes) }
    }

    /// Decodes a `T` that must fill `bytes`, memory that `owner` keeps alive and unchanged for as
    /// long as it lives (for example the buffer a request was read into), exactly. As with the
    /// `ArraySlice` overload, a large `Data` in the value is a view of `bytes` and keeps `owner`;
    /// mutating it in place writes into `bytes`, so they must be writable.
    ///
    /// ```swift
    /// let request: ArraySlice<UInt8> = received                  // freed when the last view goes
    /// let job = try request.withUnsafeBytes { try BinaryDecoder().decode(EchoData.self, from: $0, keepingAlive: request) }
    /// ```
    package func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer, keepingAlive owner: any Sendable) throws -> T {
        try decode(type, from: bytes, owner: owner)
    }

    /// Decodes a `T` that must fill `bytes` exactly.
    package func decode<T: Decodable>(_ type: T.Type, from bytes: Data) throws -> T {
        try bytes.withUnsafeBytes { try decode(type, from: $0) }
    }
}

/// A decoding failure found below the containers, which add the type and coding path.
struct BinaryFault: Error {
    enum Kind { case corrupted, mismatch, nilFound }
    let kind: Kind
    let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    static var truncated: BinaryFault { BinaryFault(.corrupted, "unexpected end of data") }

    /// The fault for finding `tag` where a `T` was expected.
    static func unexpected(_ tag: UInt8) -> BinaryFault {
        if tag == BinaryTag.null || tag == BinaryTag.absent { return BinaryFault(.nilFound, "nil") }
        if BinaryTag.name(tag).hasPrefix("unknown") { return BinaryFault(.corrupted, BinaryTag.name(tag)) }
        return BinaryFault(.mismatch, BinaryTag.name(tag))
    }

    func error(_ type: Any.Type, _ path: [any CodingKey]) -> DecodingError {
        switch kind {
        case .corrupted:
            return .dataCorrupted(.init(codingPath: path, debugDescription: "BinaryDecoder: \(message)"))
        case .mismatch:
            return .typeMismatch(type, .init(codingPath: path, debugDescription: "Expected \(type) but found \(message) instead."))
        case .nilFound:
            return .valueNotFound(type, .init(codingPath: path, debugDescription: "Expected \(type) value but found nil instead."))
        }
    }
}

extension BinaryTag {
    /// Pseudo tag (never on the wire) of a value that is not there, e.g. a missing `super` key;
    /// it decodes like nil.
    static let absent: UInt8 = 0xFE
}

/// Each thread's spare decoder state.
let binaryDecoderCache = BinaryThreadCache<BinaryDecodingState>()

/// The input of one decode and the shared bookkeeping of its containers.
///
/// The decoder, its containers and `base` live only for the duration of `BinaryDecoder.decode`,
/// as the `Decodable` contract requires; every read is checked against `count`.
final class BinaryDecodingState {
    struct Fields {
        /// The input; `count` is 0 whenever no decode is running, so that a decoder or container
        /// that escaped from `init(from:)` finds no bytes rather than freed memory.
        var base = UnsafeRawPointer(bitPattern: 1)!
        var count = 0
        /// Coding-path stack; each decoder and container knows the depth of its own prefix.
        var path: [any CodingKey] = []
        /// Per nesting level, a keyed container's body start and the entry after its last match,
        /// so fields decoded in encoding order are found without scanning.
        var cursors: [Int] = []
        /// What keeps the input alive beyond the call, when there is something: then large
        /// `Data` values are views of it (`makeData`).
        var owner: (any Sendable)?
    }

    /// The mutable fields live in memory this object owns rather than in stored properties, which
    /// would pay a runtime exclusivity check on every access. Safe because one state serves one
    /// decode call on one thread, and no access to a field overlaps another access to it.
    private let fields: UnsafeMutablePointer<Fields>

    /// Nesting levels that keep a lookup cursor; deeper keyed containers scan from their start.
    static let cursorSlots = 64

    init() {
        fields = .allocate(capacity: 1)
        fields.initialize(to: Fields())
    }

    func attach(_ base: UnsafeRawPointer, _ count: Int, owner: (any Sendable)? = nil) {
        fields.pointee.base = base
        fields.pointee.count = count
        fields.pointee.owner = owner
    }

    /// Forgets the input and parks this state in the thread's cache, unless a decoder or
    /// container that escaped from `init(from:)` still refers to it.
    static func detach(_ state: inout BinaryDecodingState) {
        state.fields.pointee.count = 0
        // A cached state must not keep a received buffer alive.
        state.fields.pointee.owner = nil
        state.path.removeAll(keepingCapacity: true)
        state.cursors.removeAll(keepingCapacity: true)
        if isKnownUniquelyReferenced(&state) { binaryDecoderCache.put(state) }
    }

    var base: UnsafeRawPointer { @inline(__always) get { fields.pointee.base } }
    var count: Int { @inline(__always) get { fields.pointee.count } }

    deinit {
        fields.deinitialize(count: 1)
        fields.deallocate()
    }

    var path: [any CodingKey] {
        @inline(__always) _read { yield fields.pointee.path }
        @inline(__always) _modify { yield &fields.pointee.path }
    }
    var cursors: [Int] {
        @inline(__always) _read { yield fields.pointee.cursors }
        @inline(__always) _modify { yield &fields.pointee.cursors }
    }

    // MARK: Raw reads (callers check bounds)

    @inline(__always)
    func byte(_ offset: Int) -> UInt8 {
        base.load(fromByteOffset: offset, as: UInt8.self)
    }

    @inline(__always)
    func load<I: FixedWidthInteger>(_ offset: Int, _: I.Type) -> I {
        I(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: I.self))
    }

    /// Reads a varint at `offset` that must end before `limit`; returns it and the next offset.
    @inline(__always)
    func varint(_ offset: Int, limit: Int) throws -> (Int, Int) {
        guard offset < limit && offset < count else { throw BinaryFault.truncated }
        let first = byte(offset)
        if first < 0x80 { return (Int(first), offset + 1) }
        return try varintSlow(offset, limit: limit)
    }

    func varintSlow(_ offset: Int, limit: Int) throws -> (Int, Int) {
        let limit = min(limit, count)
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var p = offset
        while true {
            guard p < limit else { throw BinaryFault.truncated }
            guard shift < 64 else { throw BinaryFault(.corrupted, "varint longer than 10 bytes") }
            let b = byte(p)
            p += 1
            let part = UInt64(b & 0x7F)
            if shift == 63 && part > 1 { throw BinaryFault(.corrupted, "varint overflows 64 bits") }
            result |= part << shift
            if b < 0x80 { break }
            shift += 7
        }
        guard result <= UInt64(Int.max) else { throw BinaryFault(.corrupted, "length \(result) is too large") }
        return (Int(result), p)
    }

    /// The offset just after the value at `offset`, which must end by `limit`. O(1) for every
    /// tag, since containers carry their byte length.
    func valueEnd(at offset: Int, limit: Int) throws -> Int {
        let limit = min(limit, count)
        var o = offset
        while true {
            guard o < limit else { throw BinaryFault.truncated }
            let tag = byte(o)
            switch tag {
            case BinaryTag.null, BinaryTag.falseValue, BinaryTag.trueValue:
                return o + 1
            case BinaryTag.some:
                o += 1
            case BinaryTag.string, BinaryTag.bytes:
                let (n, p) = try varint(o + 1, limit: limit)
                guard n <= limit - p else { throw BinaryFault.truncated }
                return p + n
            case BinaryTag.keyed, BinaryTag.unkeyed:
                guard limit - o >= BinaryTag.containerHeaderSize else { throw BinaryFault.truncated }
                let body = Int(load(o + 5, UInt32.self))
                guard body <= limit - o - BinaryTag.containerHeaderSize else { throw BinaryFault.truncated }
                return o + BinaryTag.containerHeaderSize + body
            default:
                let width = BinaryTag.scalarWidth(tag)
                if width > 0 {
                    guard width <= limit - o - 1 else { throw BinaryFault.truncated }
                    return o + 1 + width
                }
                let elementWidth = tag & 0xE0 == BinaryTag.packedArray ? BinaryTag.scalarWidth(tag & 0x1F) : 0
                guard elementWidth > 0 else { throw BinaryFault.unexpected(tag) }
                let (n, p) = try varint(o + 1, limit: limit)
                guard n <= (limit - p) / elementWidth else { throw BinaryFault.truncated }
                return p + n * elementWidth
            }
        }
    }

    /// The tag of the value at `offset` (or the implicit tag of a packed element) and the
    /// offset of its payload, skipping `some` markers.
    @inline(__always)
    func tagged(_ offset: Int, _ implicit: UInt8) throws -> (UInt8, Int) {
        if implicit != 0 { return (implicit, offset) }
        guard offset < count else { throw BinaryFault.truncated }
        let tag = byte(offset)
        if tag != BinaryTag.some { return (tag, offset + 1) }
        var p = offset + 1
        while true {
            guard p < count else { throw BinaryFault.truncated }
            let t = byte(p)
            p += 1
            if t != BinaryTag.some { return (t, p) }
        }
    }

    // MARK: Scalars

    func readInteger<I: FixedWidthInteger>(_: I.Type, at offset: Int, implicit: UInt8) throws -> I {
        let (tag, p) = try tagged(offset, implicit)
        let width = BinaryTag.scalarWidth(tag)
        guard width > 0, tag != BinaryTag.float32, tag != BinaryTag.float64 else { throw BinaryFault.unexpected(tag) }
        guard width <= count - p else { throw BinaryFault.truncated }
        let result: I?
        switch tag {
        case BinaryTag.int64: result = I(exactly: load(p, Int64.self))
        case BinaryTag.int32: result = I(exactly: load(p, Int32.self))
        case BinaryTag.uint64: result = I(exactly: load(p, UInt64.self))
        case BinaryTag.int8: result = I(exactly: load(p, Int8.self))
        case BinaryTag.int16: result = I(exactly: load(p, Int16.self))
        case BinaryTag.uint8: result = I(exactly: load(p, UInt8.self))
        case BinaryTag.uint16: result = I(exactly: load(p, UInt16.self))
        case BinaryTag.uint32: result = I(exactly: load(p, UInt32.self))
        case BinaryTag.int128: result = I(exactly: load(p, Int128.self))
        default: result = I(exactly: load(p, UInt128.self))
        }
        guard let result else {
            throw BinaryFault(.corrupted, "the number does not fit in \(I.self)")
        }
        return result
    }

    func readDouble(at offset: Int, implicit: UInt8) throws -> Double {
        let (tag, p) = try tagged(offset, implicit)
        switch tag {
        case BinaryTag.float64:
            guard 8 <= count - p else { throw BinaryFault.truncated }
            return Double(bitPattern: load(p, UInt64.self))
        case BinaryTag.float32:
            guard 4 <= count - p else { throw BinaryFault.truncated }
            return Double(Float(bitPattern: load(p, UInt32.self)))
        default:
            throw BinaryFault.unexpected(tag)
        }
    }

    func readFloat(at offset: Int, implicit: UInt8) throws -> Float {
        let (tag, p) = try tagged(offset, implicit)
        switch tag {
        case BinaryTag.float32:
            guard 4 <= count - p else { throw BinaryFault.truncated }
            return Float(bitPattern: load(p, UInt32.self))
        case BinaryTag.float64:
            guard 8 <= count - p else { throw BinaryFault.truncated }
            let value = Double(bitPattern: load(p, UInt64.self))
            guard !value.isFinite || value.magnitude <= Double(Float.greatestFiniteMagnitude) else {
                throw BinaryFault(.corrupted, "the number \(value) does not fit in Float")
            }
            return Float(value)
        default:
            throw BinaryFault.unexpected(tag)
        }
    }

    func readBool(at offset: Int, implicit: UInt8) throws -> Bool {
        let (tag, _) = try tagged(offset, implicit)
        switch tag {
        case BinaryTag.trueValue: return true
        case BinaryTag.falseValue: return false
        default: throw BinaryFault.unexpected(tag)
        }
    }

    /// A string's UTF-8 bytes at `offset` (tag, varint length, bytes), validated.
    func readString(at offset: Int, implicit: UInt8) throws -> String {
        let (tag, p) = try tagged(offset, implicit)
        guard tag == BinaryTag.string else { throw BinaryFault.unexpected(tag) }
        let (n, q) = try varint(p, limit: count)
        guard n <= count - q else { throw BinaryFault.truncated }
        return try makeString(q, n)
    }

    @inline(__always)
    func makeString(_ offset: Int, _ length: Int) throws -> String {
        if length == 0 { return "" }
        let utf8 = UnsafeBufferPointer(start: (base + offset).assumingMemoryBound(to: UInt8.self), count: length)
        guard let string = String(validating: utf8, as: UTF8.self) else {
            throw BinaryFault(.corrupted, "invalid UTF-8 in a string")
        }
        return string
    }

    // MARK: Blocks

    /// The payload of a `bytes` value (or packed uint8 array) at `offset`, or nil for another tag.
    func bytesBlock(at offset: Int, implicit: UInt8) throws -> (Int, Int)? {
        guard implicit == 0 else { return nil }
        let (tag, p) = try tagged(offset, implicit)
        guard tag == BinaryTag.bytes || tag == BinaryTag.packedArray | BinaryTag.uint8 else { return nil }
        let (n, q) = try varint(p, limit: count)
        guard n <= count - q else { throw BinaryFault.truncated }
        return (q, n)
    }

    /// The `count` bytes at `offset` as an array: one copy into an array of exactly that size.
    func makeBytes(at offset: Int, count length: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: length) { bytes, initialized in
            UnsafeMutableRawBufferPointer(bytes).copyMemory(from: UnsafeRawBufferPointer(start: base + offset, count: length))
            initialized = length
        }
    }

    /// The `count` bytes at `offset` as `Data`: a view of the input, which it keeps alive, when
    /// the input has an owner and the bytes are a large payload (``BinaryDecoder/viewThreshold``,
    /// more than half of the input, so a view never holds on to much more than itself); a copy
    /// otherwise. Views almost triple a large payload's throughput through a worker
    /// (`Benchmarks/README.md`, "Design measurements").
    ///
    /// A view's bytes are the input's: mutating the `Data` in place while it is the only
    /// reference to them writes into the input's storage (see the `ArraySlice` overload of
    /// `BinaryDecoder.decode`).
    func makeData(at offset: Int, count length: Int) -> Data {
        if length >= BinaryDecoder.viewThreshold, length > count / 2, let owner = fields.pointee.owner {
            // `owner` lives as long as the view, so its storage does; and it is never written
            // through the array while shared (copy-on-write), so the bytes stay as decoded.
            return Data(
                bytesNoCopy: UnsafeMutableRawPointer(mutating: base + offset), count: length,
                deallocator: .custom { _, _ in withExtendedLifetime(owner) {} })
        }
        return Data(bytes: base + offset, count: length)
    }

    /// A packed array of `E` with element tag `scalarTag` at `offset`, or nil for another tag.
    func readPacked<E>(_: E.Type, _ scalarTag: UInt8, at offset: Int, implicit: UInt8) throws -> [E]? {
        guard implicit == 0 else { return nil }
        let (tag, p) = try tagged(offset, implicit)
        guard tag == BinaryTag.packedArray | scalarTag else { return nil }
        let size = MemoryLayout<E>.size
        let (n, q) = try varint(p, limit: count)
        guard n <= (count - q) / size else { throw BinaryFault.truncated }
        if n == 0 { return [] }
        let source = base + q
        return [E](unsafeUninitializedCapacity: n) { buffer, initialized in
            let target = UnsafeMutableRawPointer(buffer.baseAddress!)
            target.copyMemory(from: source, byteCount: n * size)
            #if _endian(big)
            for i in 0..<n {
                let start = target + i * size
                var (lo, hi) = (0, size - 1)
                while lo < hi {
                    let t = start.load(fromByteOffset: lo, as: UInt8.self)
                    start.storeBytes(of: start.load(fromByteOffset: hi, as: UInt8.self), toByteOffset: lo, as: UInt8.self)
                    start.storeBytes(of: t, toByteOffset: hi, as: UInt8.self)
                    lo += 1
                    hi -= 1
                }
            }
            #endif
            initialized = n
        }
    }

    /// `[Bool]` written by the encoder (an unkeyed container of one-byte bools), or nil.
    func readBoolArray(at offset: Int, implicit: UInt8) throws -> [Bool]? {
        guard implicit == 0 else { return nil }
        let (tag, p) = try tagged(offset, implicit)
        guard tag == BinaryTag.unkeyed, count - p >= 8 else { return nil }
        let n = Int(load(p, UInt32.self))
        guard Int(load(p + 4, UInt32.self)) == n, n <= count - p - 8 else { return nil }
        let source = UnsafeRawBufferPointer(start: base + p + 8, count: n)
        var valid = true
        for b in source where b &- 1 > 1 { valid = false }
        guard valid else { return nil }
        if n == 0 { return [] }
        return [Bool](unsafeUninitializedCapacity: n) { buffer, initialized in
            let target = UnsafeMutableRawPointer(buffer.baseAddress!)
            for i in 0..<n { target.storeBytes(of: source[i] &- 1, toByteOffset: i, as: UInt8.self) }
            initialized = n
        }
    }

    /// `[String]` written as an unkeyed container of plain strings, or nil for anything else.
    func readStringArray(at offset: Int, implicit: UInt8) throws -> [String]? {
        guard implicit == 0 else { return nil }
        let (tag, p) = try tagged(offset, implicit)
        guard tag == BinaryTag.unkeyed, count - p >= 8 else { return nil }
        let n = Int(load(p, UInt32.self))
        let body = Int(load(p + 4, UInt32.self))
        guard body <= count - p - 8, n <= body / 2 else { return nil }
        let end = p + 8 + body
        var o = p + 8
        var strings: [String] = []
        strings.reserveCapacity(n)
        for _ in 0..<n {
            guard o < end, byte(o) == BinaryTag.string else { return nil }
            let (length, q) = try varint(o + 1, limit: end)
            guard length <= end - q else { return nil }
            strings.append(try makeString(q, length))
            o = q + length
        }
        guard o == end else { return nil }
        return strings
    }

    // MARK: Values

    func decodeTopLevel<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            if let value = try decodeFast(T.self, at: 0, implicit: 0) { return value }
        } catch let fault as BinaryFault {
            throw fault.error(T.self, [])
        }
        return try T(from: BinaryDecoderImpl(state: self, offset: 0, pathDepth: 0, nesting: 0, implicit: 0))
    }

    /// Decodes through `T.init(from:)`, with `key` appended to the coding path.
    func decodeGeneric<T: Decodable>(
        _ type: T.Type, at offset: Int, implicit: UInt8, pathDepth: Int,
        tail: BinaryPathTail, key: (any CodingKey)?, nesting: Int
    ) throws -> T {
        var depth = binaryResetPath(&path, to: pathDepth, tail: tail)
        if let key {
            path.append(key)
            depth += 1
        }
        guard nesting < BinaryDecoder.maxNesting else {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: Array(path.prefix(depth)),
                    debugDescription: "BinaryDecoder: nesting deeper than \(BinaryDecoder.maxNesting) levels"))
        }
        return try T(from: BinaryDecoderImpl(state: self, offset: offset, pathDepth: depth, nesting: nesting + 1, implicit: implicit))
    }

    /// Decodes the types with a dedicated representation; returns nil for any other type, or
    /// when the input holds another representation (then `init(from:)` handles it).
    func decodeFast<T: Decodable>(_ type: T.Type, at offset: Int, implicit: UInt8) throws -> T? {
        if binaryFastPathDisabled(T.self) { return nil }
        switch MemoryLayout<T>.size {
        case 8:
            if T.self == Int.self { return binaryCast(try readInteger(Int.self, at: offset, implicit: implicit), T.self) }
            if MemoryLayout<Int>.size == 8 && T.self == [Int].self {
                return try readPacked(Int.self, BinaryTag.int64, at: offset, implicit: implicit).map { binaryCast($0, T.self) }
            }
            if T.self == Double.self { return binaryCast(try readDouble(at: offset, implicit: implicit), T.self) }
            if T.self == Int64.self { return binaryCast(try readInteger(Int64.self, at: offset, implicit: implicit), T.self) }
            if T.self == UInt64.self { return binaryCast(try readInteger(UInt64.self, at: offset, implicit: implicit), T.self) }
            if T.self == UInt.self { return binaryCast(try readInteger(UInt.self, at: offset, implicit: implicit), T.self) }
            if T.self == [UInt8].self {
                guard let block = try bytesBlock(at: offset, implicit: implicit) else { return nil }
                return binaryCast(makeBytes(at: block.0, count: block.1), T.self)
            }
            if T.self == [Double].self {
                return try readPacked(Double.self, BinaryTag.float64, at: offset, implicit: implicit).map { binaryCast($0, T.self) }
            }
            if T.self == [String].self { return try readStringArray(at: offset, implicit: implicit).map { binaryCast($0, T.self) } }
            if T.self == [Int64].self {
                return try readPacked(Int64.self, BinaryTag.int64, at: offset, implicit: implicit).map { binaryCast($0, T.self) }
            }
            if T.self == [UInt64].self {
                return try readPacked(UInt64.self, BinaryTag.uint64, at: offset, implicit: implicit).map { binaryCast($0, T.self) }
            }
            if T.self == [Int32].self {
                return try readPacked(Int32.self, BinaryTag.int32, at: offset, implicit: implicit).map { binaryCast($0, T.self) }
            }
            if T.self == [Float].self {
                return try readPacked(Float.self, BinaryTag.float32, at: offset, implicit: implicit).map { binaryCast($0, T.self) }
            }
            if T.self == [Bool].self { return try readBoolArray(at: offset, implicit: implicit).map { binaryCast($0, T.self) } }
            if T.self == [UInt32].self {
                return try readPacked(UInt32.self, BinaryTag.uint32, at: offset, implicit: implicit).map { binaryCast($0, T.self) }
            }
            if T.self == [Int16].self {
                return try readPacked(Int16.self, BinaryTag.int16, at: offset, implicit: implicit).map { binaryCast($0, T.self) }
            }
            if T.self == [UInt16].self {
                return try readPacked(UInt16.self, BinaryTag.uint16, at: offset, implicit: implicit).map { binaryCast($0, T.self) }
            }
            if T.self == [Int8].self {
                return try readPacked(Int8.self, BinaryTag.int8, at: offset, implicit: implicit).map { binaryCast($0, T.self) }
            }
            if MemoryLayout<UInt>.size == 8 && T.self == [UInt].self {
                return try readPacked(UInt.self, BinaryTag.uint64, at: offset, implicit: implicit).map { binaryCast($0, T.self) }
            }
        case 16:
            if T.self == String.self { return binaryCast(try readString(at: offset, implicit: implicit), T.self) }
            if T.self == Data.self {
                guard let block = try bytesBlock(at: offset, implicit: implicit) else { return nil }
                return binaryCast(makeData(at: block.0, count: block.1), T.self)
            }
            if T.self == Int128.self { return binaryCast(try readInteger(Int128.self, at: offset, implicit: implicit), T.self) }
            if T.self == UInt128.self { return binaryCast(try readInteger(UInt128.self, at: offset, implicit: implicit), T.self) }
        case 1:
            if T.self == Bool.self { return binaryCast(try readBool(at: offset, implicit: implicit), T.self) }
            if T.self == UInt8.self { return binaryCast(try readInteger(UInt8.self, at: offset, implicit: implicit), T.self) }
            if T.self == Int8.self { return binaryCast(try readInteger(Int8.self, at: offset, implicit: implicit), T.self) }
        case 4:
            if T.self == Int32.self { return binaryCast(try readInteger(Int32.self, at: offset, implicit: implicit), T.self) }
            if T.self == UInt32.self { return binaryCast(try readInteger(UInt32.self, at: offset, implicit: implicit), T.self) }
            if T.self == Float.self { return binaryCast(try readFloat(at: offset, implicit: implicit), T.self) }
            if MemoryLayout<Int>.size == 4 {
                if T.self == Int.self { return binaryCast(try readInteger(Int.self, at: offset, implicit: implicit), T.self) }
                if T.self == UInt.self { return binaryCast(try readInteger(UInt.self, at: offset, implicit: implicit), T.self) }
            }
        case 2:
            if T.self == Int16.self { return binaryCast(try readInteger(Int16.self, at: offset, implicit: implicit), T.self) }
            if T.self == UInt16.self { return binaryCast(try readInteger(UInt16.self, at: offset, implicit: implicit), T.self) }
        default:
            break
        }
        return nil
    }

    // MARK: Containers

    /// The container at `offset`: body start, body end, element count, and for packed arrays
    /// the implicit element tag and width (0 for tagged elements).
    func openContainer(at offset: Int, implicit: UInt8, keyed: Bool) throws
        -> (start: Int, end: Int, count: Int, elementTag: UInt8, elementWidth: Int)
    {
        guard implicit == 0 else { throw BinaryFault.unexpected(implicit) }
        let (tag, p) = try tagged(offset, 0)
        switch tag {
        case BinaryTag.keyed, BinaryTag.unkeyed:
            guard count - p >= 8 else { throw BinaryFault.truncated }
            let n = Int(load(p, UInt32.self))
            let body = Int(load(p + 4, UInt32.self))
            guard body <= count - p - 8 else { throw BinaryFault.truncated }
            // Every entry takes at least 2 bytes (key length, tag), every element 1 byte.
            guard n <= (tag == BinaryTag.keyed ? body / 2 : body) else {
                throw BinaryFault(.corrupted, "a container claims \(n) entries in \(body) bytes")
            }
            guard (tag == BinaryTag.keyed) == keyed || n == 0 else { throw BinaryFault.unexpected(tag) }
            return (p + 8, p + 8 + body, n, 0, 0)
        case BinaryTag.bytes where !keyed:
            let (n, q) = try varint(p, limit: count)
            guard n <= count - q else { throw BinaryFault.truncated }
            return (q, q + n, n, BinaryTag.uint8, 1)
        default:
            let width = tag & 0xE0 == BinaryTag.packedArray ? BinaryTag.scalarWidth(tag & 0x1F) : 0
            guard width > 0, !keyed else { throw BinaryFault.unexpected(tag) }
            let (n, q) = try varint(p, limit: count)
            guard n <= (count - q) / width else { throw BinaryFault.truncated }
            return (q, q + n * width, n, tag & 0x1F, width)
        }
    }

    func keyedContainer<Key: CodingKey>(
        _: Key.Type, at offset: Int, implicit: UInt8, pathDepth: Int,
        tail: BinaryPathTail, nesting: Int
    ) throws -> KeyedDecodingContainer<Key> {
        let c: (start: Int, end: Int, count: Int, elementTag: UInt8, elementWidth: Int)
        do {
            c = try openContainer(at: offset, implicit: implicit, keyed: true)
        } catch let fault as BinaryFault {
            throw fault.error(KeyedDecodingContainer<Key>.self, binaryCodingPath(path, pathDepth, tail))
        }
        return KeyedDecodingContainer(
            BinaryKeyedDecodingContainer<Key>(
                state: self, start: c.start, end: c.end, pathDepth: pathDepth, nesting: nesting, tail: tail))
    }

    func unkeyedContainer(
        at offset: Int, implicit: UInt8, pathDepth: Int, tail: BinaryPathTail,
        nesting: Int
    ) throws -> BinaryUnkeyedDecodingContainer {
        let c: (start: Int, end: Int, count: Int, elementTag: UInt8, elementWidth: Int)
        do {
            c = try openContainer(at: offset, implicit: implicit, keyed: false)
        } catch let fault as BinaryFault {
            throw fault.error((any UnkeyedDecodingContainer).self, binaryCodingPath(path, pathDepth, tail))
        }
        return BinaryUnkeyedDecodingContainer(
            state: self, start: c.start, end: c.end, total: c.count, elementTag: c.elementTag,
            elementWidth: c.elementWidth, pathDepth: pathDepth, nesting: nesting, tail: tail)
    }

    /// Finds the entry whose key is `key` in the keyed body `start..<end` and returns the offset
    /// of its value. Starts after the previous match in the same container (`slot` is its
    /// nesting level), so keys read in encoding order cost one comparison each.
    func findEntry(_ key: UnsafeBufferPointer<UInt8>, start: Int, end: Int, slot: Int) throws -> Int? {
        // (The clamp only matters for a container used after its decode ended, when count is 0.)
        let end = min(end, count)
        var hint = start
        let cursor = slot < BinaryDecodingState.cursorSlots ? slot &* 2 : -2
        if cursor >= 0 && cursor + 1 < cursors.count && cursors[cursor] == start { hint = cursors[cursor + 1] }
        if let found = try scan(key, from: hint, to: end, end: end, start: start, cursor: cursor) { return found }
        if hint > start, let found = try scan(key, from: start, to: hint, end: end, start: start, cursor: cursor) {
            return found
        }
        return nil
    }

    @inline(__always)
    private func scan(_ key: UnsafeBufferPointer<UInt8>, from: Int, to: Int, end: Int, start: Int, cursor: Int) throws -> Int? {
        var o = from
        while o < to {
            let (length, k) = try varint(o, limit: end)
            guard length <= end - k else { throw BinaryFault.truncated }
            let value = k + length
            let next = try valueEnd(at: value, limit: end)
            if length == key.count && (length == 0 || memcmp(base + k, key.baseAddress!, length) == 0) {
                guard cursor >= 0 else { return value }
                if cursor + 1 >= cursors.count {
                    cursors.append(contentsOf: repeatElement(-1, count: cursor + 2 - cursors.count))
                }
                cursors[cursor] = start
                cursors[cursor + 1] = next
                return value
            }
            o = next
        }
        return nil
    }
}

/// The `Decoder` handed to `init(from:)`: a position in the input. Three words, so it fits an
/// existential's inline buffer without a heap box.
struct BinaryDecoderImpl: Decoder {
    let state: BinaryDecodingState
    let offset: Int
    /// Coding-path depth (bits 0-31), nesting (bits 32-55) and implicit tag (bits 56-63).
    let info: Int

    init(state: BinaryDecodingState, offset: Int, pathDepth: Int, nesting: Int, implicit: UInt8) {
        self.state = state
        self.offset = offset
        self.info = min(pathDepth, 0xFFFF_FFFF) | min(nesting, 0xFF_FFFF) << 32 | Int(implicit) << 56
    }

    var pathDepth: Int { info & 0xFFFF_FFFF }
    var nesting: Int { (info >> 32) & 0xFF_FFFF }
    var implicit: UInt8 { UInt8(truncatingIfNeeded: info >> 56) }
    var codingPath: [any CodingKey] { Array(state.path.prefix(pathDepth)) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        try state.keyedContainer(Key.self, at: offset, implicit: implicit, pathDepth: pathDepth, tail: .none, nesting: nesting)
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try state.unkeyedContainer(at: offset, implicit: implicit, pathDepth: pathDepth, tail: .none, nesting: nesting)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        BinarySingleValueDecodingContainer(decoder: self)
    }
}

struct BinaryKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let state: BinaryDecodingState
    let start: Int
    let end: Int
    let pathDepth: Int
    let nesting: Int
    let tail: BinaryPathTail

    var codingPath: [any CodingKey] { binaryCodingPath(state.path, pathDepth, tail) }

    private func path(_ key: Key) -> [any CodingKey] {
        codingPath + [key]
    }

    var allKeys: [Key] {
        var keys: [Key] = []
        let end = min(end, state.count)
        var o = start
        while o < end {
            guard let (length, k) = try? state.varint(o, limit: end) as (Int, Int), length <= end - k,
                let next = try? state.valueEnd(at: k + length, limit: end)
            else { break }
            if let name = try? state.makeString(k, length), let key = Key(stringValue: name) { keys.append(key) }
            o = next
        }
        return keys
    }

    /// The offset of the value for `key`, or nil.
    @inline(__always)
    private func find(_ key: Key) throws -> Int? {
        var name = key.stringValue
        do {
            return try name.withUTF8 { try state.findEntry($0, start: start, end: end, slot: nesting) }
        } catch let fault as BinaryFault {
            throw fault.error(Any.self, path(key))
        }
    }

    @inline(__always)
    private func offset(_ key: Key) throws -> Int {
        guard let offset = try find(key) else {
            throw DecodingError.keyNotFound(
                key,
                DecodingError.Context(
                    codingPath: codingPath, debugDescription: "No value associated with key \(key.stringValue)."))
        }
        return offset
    }

    @inline(__always)
    private func read<T>(_: T.Type, _ key: Key, _ body: (Int) throws -> T) throws -> T {
        let o = try offset(key)
        do {
            return try body(o)
        } catch let fault as BinaryFault {
            throw fault.error(T.self, path(key))
        }
    }

    /// decodeIfPresent of a scalar with one lookup: nil when the key is missing or the value is nil.
    @inline(__always)
    private func readIfPresent<T>(_: T.Type, _ key: Key, _ body: (Int) throws -> T) throws -> T? {
        guard let o = try find(key) else { return nil }
        if state.byte(o) == BinaryTag.null { return nil }
        do {
            return try body(o)
        } catch let fault as BinaryFault {
            throw fault.error(T.self, path(key))
        }
    }

    func contains(_ key: Key) -> Bool {
        ((try? find(key)) ?? nil) != nil
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        state.byte(try offset(key)) == BinaryTag.null
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        try read(type, key) { try state.readBool(at: $0, implicit: 0) }
    }
    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        try read(type, key) { try state.readString(at: $0, implicit: 0) }
    }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        try read(type, key) { try state.readDouble(at: $0, implicit: 0) }
    }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
        try read(type, key) { try state.readFloat(at: $0, implicit: 0) }
    }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try integer(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try integer(type, key) }
    func decode(_ type: Int128.Type, forKey key: Key) throws -> Int128 { try integer(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(type, key) }
    func decode(_ type: UInt128.Type, forKey key: Key) throws -> UInt128 { try integer(type, key) }

    @inline(__always)
    private func integer<I: FixedWidthInteger>(_ type: I.Type, _ key: Key) throws -> I {
        try read(type, key) { try state.readInteger(I.self, at: $0, implicit: 0) }
    }

    @inline(__always)
    private func integerIfPresent<I: FixedWidthInteger>(_ type: I.Type, _ key: Key) throws -> I? {
        try readIfPresent(type, key) { try state.readInteger(I.self, at: $0, implicit: 0) }
    }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
        try readIfPresent(type, key) { try state.readBool(at: $0, implicit: 0) }
    }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
        try readIfPresent(type, key) { try state.readString(at: $0, implicit: 0) }
    }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
        try readIfPresent(type, key) { try state.readDouble(at: $0, implicit: 0) }
    }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? {
        try readIfPresent(type, key) { try state.readFloat(at: $0, implicit: 0) }
    }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: Int128.Type, forKey key: Key) throws -> Int128? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try integerIfPresent(type, key) }
    func decodeIfPresent(_ type: UInt128.Type, forKey key: Key) throws -> UInt128? { try integerIfPresent(type, key) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try value(T.self, at: try offset(key), key)
    }

    /// Nil when the key is missing or its value is nil; a `some` marker (written for a present
    /// value that is itself optional) is consumed, so `T??.some(nil)` survives.
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard var o = try find(key) else { return nil }
        let tag = state.byte(o)
        if tag == BinaryTag.null { return nil }
        if tag == BinaryTag.some { o += 1 }
        return try value(T.self, at: o, key)
    }

    @inline(__always)
    private func value<T: Decodable>(_: T.Type, at o: Int, _ key: Key) throws -> T {
        do {
            if let value = try state.decodeFast(T.self, at: o, implicit: 0) { return value }
        } catch let fault as BinaryFault {
            throw fault.error(T.self, path(key))
        }
        return try state.decodeGeneric(
            T.self, at: o, implicit: 0, pathDepth: pathDepth, tail: tail,
            key: binaryPathKey(key), nesting: nesting)
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try state.keyedContainer(
            NestedKey.self, at: try offset(key), implicit: 0, pathDepth: pathDepth,
            tail: tail.appending(binaryPathKey(key)), nesting: nesting + 1)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try state.unkeyedContainer(
            at: try offset(key), implicit: 0, pathDepth: pathDepth,
            tail: tail.appending(binaryPathKey(key)), nesting: nesting + 1)
    }

    func superDecoder() throws -> any Decoder {
        try superDecoder(name: BinaryStringKey.superKey.stringValue, key: BinaryStringKey.superKey)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try superDecoder(name: key.stringValue, key: binaryPathKey(key))
    }

    private func superDecoder(name: String, key: any CodingKey) throws -> any Decoder {
        var name = name
        let found: Int?
        do {
            found = try name.withUTF8 { try state.findEntry($0, start: start, end: end, slot: nesting) }
        } catch let fault as BinaryFault {
            throw fault.error(Any.self, codingPath + [key])
        }
        let depth = binaryResetPath(&state.path, to: pathDepth, tail: tail.appending(key))
        // A missing key gives a decoder of nil, as JSONDecoder does.
        return BinaryDecoderImpl(
            state: state, offset: found ?? 0, pathDepth: depth, nesting: nesting + 1,
            implicit: found == nil ? BinaryTag.absent : 0)
    }
}

struct BinaryUnkeyedDecodingContainer: UnkeyedDecodingContainer {
    let state: BinaryDecodingState
    private var offset: Int
    let end: Int
    let total: Int
    let elementTag: UInt8
    let elementWidth: Int
    let pathDepth: Int
    let nesting: Int
    let tail: BinaryPathTail
    private(set) var currentIndex = 0

    init(
        state: BinaryDecodingState, start: Int, end: Int, total: Int, elementTag: UInt8, elementWidth: Int,
        pathDepth: Int, nesting: Int, tail: BinaryPathTail
    ) {
        self.state = state
        self.offset = start
        self.end = end
        self.total = total
        self.elementTag = elementTag
        self.elementWidth = elementWidth
        self.pathDepth = pathDepth
        self.nesting = nesting
        self.tail = tail
    }

    var codingPath: [any CodingKey] { binaryCodingPath(state.path, pathDepth, tail) }
    var count: Int? { total }
    var isAtEnd: Bool { currentIndex >= total }

    private var indexPath: [any CodingKey] { codingPath + [BinaryIndexKey(currentIndex)] }

    private func atEnd<T>(_ type: T.Type) -> DecodingError {
        DecodingError.valueNotFound(
            type,
            DecodingError.Context(
                codingPath: indexPath, debugDescription: "Unkeyed container is at end."))
    }

    /// Moves past the current element.
    @inline(__always)
    private mutating func advance() throws {
        if elementWidth > 0 {
            offset += elementWidth
        } else {
            offset = try state.valueEnd(at: offset, limit: end)
        }
        currentIndex += 1
    }

    @inline(__always)
    private mutating func read<T>(_ type: T.Type, _ body: (BinaryDecodingState, Int, UInt8) throws -> T) throws -> T {
        guard currentIndex < total else { throw atEnd(type) }
        do {
            let value = try body(state, offset, elementTag)
            try advance()
            return value
        } catch let fault as BinaryFault {
            throw fault.error(T.self, indexPath)
        }
    }

    mutating func decodeNil() throws -> Bool {
        guard currentIndex < total else { throw atEnd(Any?.self) }
        guard elementTag == 0 else { return false }
        guard offset < end && offset < state.count else { throw BinaryFault.truncated.error(Any?.self, indexPath) }
        guard state.byte(offset) == BinaryTag.null else { return false }
        _ = try read(Bool.self) { _, _, _ in true }
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try read(type) { try $0.readBool(at: $1, implicit: $2) } }
    mutating func decode(_ type: String.Type) throws -> String { try read(type) { try $0.readString(at: $1, implicit: $2) } }
    mutating func decode(_ type: Double.Type) throws -> Double { try read(type) { try $0.readDouble(at: $1, implicit: $2) } }
    mutating func decode(_ type: Float.Type) throws -> Float { try read(type) { try $0.readFloat(at: $1, implicit: $2) } }
    mutating func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    mutating func decode(_ type: Int128.Type) throws -> Int128 { try integer(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }
    mutating func decode(_ type: UInt128.Type) throws -> UInt128 { try integer(type) }

    @inline(__always)
    private mutating func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        try read(type) { try $0.readInteger(I.self, at: $1, implicit: $2) }
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard currentIndex < total else { throw atEnd(type) }
        let value: T
        do {
            if let fast = try state.decodeFast(T.self, at: offset, implicit: elementTag) {
                value = fast
            } else {
                value = try state.decodeGeneric(
                    T.self, at: offset, implicit: elementTag, pathDepth: pathDepth, tail: tail,
                    key: BinaryIndexKey(currentIndex), nesting: nesting)
            }
            try advance()
        } catch let fault as BinaryFault {
            throw fault.error(T.self, indexPath)
        }
        return value
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        guard currentIndex < total else { throw atEnd(KeyedDecodingContainer<NestedKey>.self) }
        let container = try state.keyedContainer(
            NestedKey.self, at: offset, implicit: elementTag, pathDepth: pathDepth,
            tail: tail.appending(BinaryIndexKey(currentIndex)), nesting: nesting + 1)
        _ = try read(Bool.self) { _, _, _ in true }
        return container
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard currentIndex < total else { throw atEnd((any UnkeyedDecodingContainer).self) }
        let container = try state.unkeyedContainer(
            at: offset, implicit: elementTag, pathDepth: pathDepth,
            tail: tail.appending(BinaryIndexKey(currentIndex)), nesting: nesting + 1)
        _ = try read(Bool.self) { _, _, _ in true }
        return container
    }

    mutating func superDecoder() throws -> any Decoder {
        guard currentIndex < total else { throw atEnd((any Decoder).self) }
        let depth = binaryResetPath(&state.path, to: pathDepth, tail: tail.appending(BinaryIndexKey(currentIndex)))
        let decoder = BinaryDecoderImpl(state: state, offset: offset, pathDepth: depth, nesting: nesting + 1, implicit: elementTag)
        _ = try read(Bool.self) { _, _, _ in true }
        return decoder
    }
}

struct BinarySingleValueDecodingContainer: SingleValueDecodingContainer {
    let decoder: BinaryDecoderImpl

    var codingPath: [any CodingKey] { decoder.codingPath }
    private var state: BinaryDecodingState { decoder.state }

    @inline(__always)
    private func read<T>(_: T.Type, _ body: (Int, UInt8) throws -> T) throws -> T {
        do {
            return try body(decoder.offset, decoder.implicit)
        } catch let fault as BinaryFault {
            throw fault.error(T.self, codingPath)
        }
    }

    func decodeNil() -> Bool {
        let implicit = decoder.implicit
        if implicit != 0 { return implicit == BinaryTag.absent }
        return decoder.offset < state.count && state.byte(decoder.offset) == BinaryTag.null
    }

    func decode(_ type: Bool.Type) throws -> Bool { try read(type) { try state.readBool(at: $0, implicit: $1) } }
    func decode(_ type: String.Type) throws -> String { try read(type) { try state.readString(at: $0, implicit: $1) } }
    func decode(_ type: Double.Type) throws -> Double { try read(type) { try state.readDouble(at: $0, implicit: $1) } }
    func decode(_ type: Float.Type) throws -> Float { try read(type) { try state.readFloat(at: $0, implicit: $1) } }
    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: Int128.Type) throws -> Int128 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }
    func decode(_ type: UInt128.Type) throws -> UInt128 { try integer(type) }

    @inline(__always)
    private func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        try read(type) { try state.readInteger(I.self, at: $0, implicit: $1) }
    }

    /// Consumes one `some` marker: it belongs to the `Optional` whose payload is being decoded.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        var o = decoder.offset
        let implicit = decoder.implicit
        if implicit == 0 && o < state.count && state.byte(o) == BinaryTag.some { o += 1 }
        do {
            if let value = try state.decodeFast(T.self, at: o, implicit: implicit) { return value }
        } catch let fault as BinaryFault {
            throw fault.error(T.self, codingPath)
        }
        return try state.decodeGeneric(
            T.self, at: o, implicit: implicit, pathDepth: decoder.pathDepth, tail: .none,
            key: nil, nesting: decoder.nesting)
    }
}
