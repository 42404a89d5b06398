// SPDX-License-Identifier: Apache-2.0
// Shared definitions of the binary Codable format used by `BinaryEncoder` and `BinaryDecoder`.
//
// WIRE FORMAT
// ===========
// A message is exactly one value; the decoder rejects any byte after it (no trailing garbage)
// and an empty input. There is no header (callers frame messages themselves) and no version
// byte: both ends of every message are always the same executable (a worker is a fork of the
// program, or a posix_spawn of its own binary), so the format may change freely from one build
// to the next. It is not a storage or interchange format; never persist it or send it to
// another program.
// Every value is a one-byte tag followed by its payload. All fixed-width numbers are
// little-endian. A "varint" is an unsigned LEB128 number (7 bits per byte, low group first,
// high bit set on every byte but the last), at most 10 bytes, whose value must fit in `Int`.
//
//   tag   name      payload
//   0x00  nil       none                          (encodeNil, Optional.none)
//   0x01  false     none
//   0x02  true      none
//   0x03  int8      1 byte                        0x07  uint8    1 byte
//   0x04  int16     2 bytes                       0x08  uint16   2 bytes
//   0x05  int32     4 bytes                       0x09  uint32   4 bytes
//   0x06  int64     8 bytes (also Int)            0x0A  uint64   8 bytes (also UInt)
//   0x0B  float32   4 bytes, IEEE 754 bit pattern 0x0C  float64  8 bytes, IEEE 754 bit pattern
//   0x0D  int128    16 bytes                      0x0E  uint128  16 bytes
//   0x10  string    varint n, then n bytes of UTF-8 (validated when decoded)
//   0x11  bytes     varint n, then n raw bytes              (Data and [UInt8])
//   0x12  keyed     u32 count, u32 bodyLength, body = count entries of
//                   (varint keyLength, key UTF-8 bytes (CodingKey.stringValue), value)
//   0x13  unkeyed   u32 count, u32 bodyLength, body = count values
//                   ([Bool] is an unkeyed container of 1-byte bools, [String] one of strings)
//   0x14  some      none; one value follows. Written before the payload of an Optional whose
//                   payload is itself an Optional (`Int??.some(nil)` = 0x14 0x00, and for a
//                   `T??` property written with encodeIfPresent), so nested nils stay distinct.
//                   Decoders skip it wherever a non-optional value is expected.
//   0x20|t          packed array of the fixed-width scalar tag t (0x03...0x0E): varint n, then
//                   n untagged little-endian elements of t's width. Written for [Int]/[Int64]
//                   (0x26), [UInt64]/[UInt] (0x2A), [Int32] (0x25), [Double] (0x2C), [Float]
//                   (0x2B), [Int16], [UInt16], [UInt32], [Int8]; [UInt8] uses 0x11 instead.
//
// bodyLength counts the bytes after the 9-byte container header, so every value can be skipped
// in O(1) without parsing it. Keys may come in any order; a keyed container may repeat the
// entries of a class and its superclass when both use the same encoder; `superEncoder()`
// writes its value under the key "super". A value whose `encode(to:)` writes nothing becomes an
// empty keyed container (0x12, count 0, length 0); decoders accept an empty keyed or unkeyed
// container for either kind. Decoders accept any integer tag for any integer type when the
// value fits, float32 or float64 for Float and Double, and a packed array, bytes or an unkeyed
// container for any array-like type. Containers are limited to UInt32.max bytes and entries.

/// Tag bytes of the binary format (see the wire format above).
///
/// The format has no version byte, on purpose: what one build encodes is only ever decoded by the
/// same build (the pool and its workers run one executable), so it can change without a
/// migration. Do not store it or exchange it with other programs.
///
/// ```swift
/// let bytes = try BinaryEncoder().encode([1, 2, 3])   // [BinaryTag.packedArray | BinaryTag.int64, 3, ...]
/// ```
package enum BinaryTag {
    package static let null: UInt8 = 0x00
    package static let falseValue: UInt8 = 0x01
    package static let trueValue: UInt8 = 0x02
    package static let int8: UInt8 = 0x03
    package static let int16: UInt8 = 0x04
    package static let int32: UInt8 = 0x05
    package static let int64: UInt8 = 0x06
    package static let uint8: UInt8 = 0x07
    package static let uint16: UInt8 = 0x08
    package static let uint32: UInt8 = 0x09
    package static let uint64: UInt8 = 0x0A
    package static let float32: UInt8 = 0x0B
    package static let float64: UInt8 = 0x0C
    package static let int128: UInt8 = 0x0D
    package static let uint128: UInt8 = 0x0E
    package static let string: UInt8 = 0x10
    package static let bytes: UInt8 = 0x11
    package static let keyed: UInt8 = 0x12
    package static let unkeyed: UInt8 = 0x13
    package static let some: UInt8 = 0x14
    /// `packedArray | t` is a packed array of the scalar tag `t`.
    package static let packedArray: UInt8 = 0x20

    /// Size of the container header: tag, u32 count, u32 body length.
    package static let containerHeaderSize = 9

    /// Payload width of a fixed-width scalar tag (int8 ... uint128), or 0 for any other tag.
    @inline(__always)
    static func scalarWidth(_ tag: UInt8) -> Int {
        switch tag {
        case int8, uint8: return 1
        case int16, uint16: return 2
        case int32, uint32, float32: return 4
        case int64, uint64, float64: return 8
        case int128, uint128: return 16
        default: return 0
        }
    }

    /// A readable name for error messages.
    static func name(_ tag: UInt8) -> String {
        switch tag {
        case null: return "nil"
        case falseValue, trueValue: return "Bool"
        case int8: return "Int8"
        case int16: return "Int16"
        case int32: return "Int32"
        case int64: return "Int64"
        case uint8: return "UInt8"
        case uint16: return "UInt16"
        case uint32: return "UInt32"
        case uint64: return "UInt64"
        case float32: return "Float"
        case float64: return "Double"
        case int128: return "Int128"
        case uint128: return "UInt128"
        case string: return "String"
        case bytes: return "bytes"
        case keyed: return "keyed container"
        case unkeyed: return "unkeyed container"
        case some: return "Optional marker"
        default:
            if tag & 0xE0 == packedArray, scalarWidth(tag & 0x1F) != 0, tag != packedArray | uint8 {
                return "array of \(name(tag & 0x1F))"
            }
            return "unknown tag 0x\(String(tag, radix: 16))"
        }
    }
}

/// An integer coding key for positions in unkeyed containers (`Index 3` in coding paths).
struct BinaryIndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { intValue.map { "Index \($0)" } ?? "" }
    init(intValue: Int) { self.intValue = intValue }
    init?(stringValue: String) { return nil }
    init(_ index: Int) { self.intValue = index }
}

/// A string coding key, used for `super` and for keys that are too large to keep inline.
struct BinaryStringKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
    init(_ string: String, _ int: Int? = nil) {
        self.stringValue = string
        self.intValue = int
    }
    static let superKey = BinaryStringKey("super")
}

/// Type-erases a key for a coding path. Keys of at most 3 words (synthesized `CodingKeys`
/// enums) stay as themselves and fit an existential's inline buffer; larger ones become a
/// `BinaryStringKey` so no box is allocated.
@inline(__always)
func binaryPathKey<K: CodingKey>(_ key: K) -> any CodingKey {
    if MemoryLayout<K>.size <= 3 * MemoryLayout<Int>.size { return key }
    return BinaryStringKey(key.stringValue, key.intValue)
}

#if PEBBLE_CODEC_NO_BYTES
import Foundation
#endif

/// Whether the fast path for `T` is compiled out: always `false` (and folded away) except in the
/// benchmark builds that measure what each fast path is worth (`pebble-bench --metrics C`, built
/// with `-Xswiftc -DPEBBLE_CODEC_NO_PACKED`, `_NO_BYTES`, `_NO_STRING_ARRAY` or `_NO_BOOL_ARRAY`).
/// The types then take the general `Codable` path, which reads back what it writes.
@inline(__always)
func binaryFastPathDisabled<T>(_: T.Type) -> Bool {
    #if PEBBLE_CODEC_NO_PACKED
    if T.self == [Int].self || T.self == [Double].self || T.self == [Int64].self || T.self == [UInt64].self
        || T.self == [Int32].self || T.self == [Float].self || T.self == [UInt32].self || T.self == [Int16].self
        || T.self == [UInt16].self || T.self == [Int8].self || T.self == [UInt].self
    {
        return true
    }
    #endif
    #if PEBBLE_CODEC_NO_BYTES
    if T.self == [UInt8].self || T.self == Data.self { return true }
    #endif
    #if PEBBLE_CODEC_NO_STRING_ARRAY
    if T.self == [String].self { return true }
    #endif
    #if PEBBLE_CODEC_NO_BOOL_ARRAY
    if T.self == [Bool].self { return true }
    #endif
    return false
}

/// Marks `Optional` so the codec can tell a nested optional (`T??`) apart.
protocol BinaryOptionalMarker {}
extension Optional: BinaryOptionalMarker {}

/// Coding-path keys that follow a container's share of the shared path stack (the keys of
/// nested containers), kept inline for the common cases of none or one.
enum BinaryPathTail {
    case none
    case one(any CodingKey)
    case many([any CodingKey])

    func appending(_ key: any CodingKey) -> BinaryPathTail {
        switch self {
        case .none: return .one(key)
        case .one(let first): return .many([first, key])
        case .many(let keys): return .many(keys + [key])
        }
    }

    @inline(__always)
    func append(to path: inout [any CodingKey]) {
        switch self {
        case .none: break
        case .one(let key): path.append(key)
        case .many(let keys): path.append(contentsOf: keys)
        }
    }
}

/// Truncates a shared coding-path stack to `depth` and appends `tail`; returns the new depth.
@inline(__always)
func binaryResetPath(_ path: inout [any CodingKey], to depth: Int, tail: BinaryPathTail) -> Int {
    if path.count > depth { path.removeLast(path.count - depth) }
    tail.append(to: &path)
    return path.count
}

/// The coding path `path[0..<depth] + tail`.
func binaryCodingPath(_ path: [any CodingKey], _ depth: Int, _ tail: BinaryPathTail) -> [any CodingKey] {
    var result = Array(path.prefix(depth))
    tail.append(to: &result)
    return result
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A per-thread slot holding one reusable encoder or decoder state, so that encoding or
/// decoding a small value does not allocate and free the state (and its stacks) every time.
/// A state is taken out of the slot while in use, so nested or concurrent use never shares one.
/// It pays off for small values (`Benchmarks/README.md`, "Design measurements"); build with
/// `-DPEBBLE_CODEC_NO_THREAD_CACHE` to compare.
struct BinaryThreadCache<State: AnyObject>: Sendable {
    let key: pthread_key_t

    init() {
        var key = pthread_key_t()
        #if canImport(Darwin)
        let status = pthread_key_create(&key) { binaryReleaseCachedState($0) }
        #else
        let status = pthread_key_create(&key) { binaryReleaseCachedState($0) }
        #endif
        // Without a key (the process ran out of them) `take` finds nothing and `put` does nothing.
        self.key = status == 0 ? key : pthread_key_t.max
    }

    @inline(__always)
    func take() -> State? {
        #if PEBBLE_CODEC_NO_THREAD_CACHE
        return nil
        #endif
        guard key != pthread_key_t.max, let pointer = pthread_getspecific(key) else { return nil }
        pthread_setspecific(key, nil)
        return Unmanaged<State>.fromOpaque(pointer).takeRetainedValue()
    }

    @inline(__always)
    func put(_ state: State) {
        guard key != pthread_key_t.max, pthread_getspecific(key) == nil else { return }
        pthread_setspecific(key, Unmanaged.passRetained(state).toOpaque())
    }
}

/// Thread-exit destructor of a `BinaryThreadCache` slot.
private func binaryReleaseCachedState(_ pointer: UnsafeMutableRawPointer?) {
    if let pointer { Unmanaged<AnyObject>.fromOpaque(pointer).release() }
}
