// SPDX-License-Identifier: Apache-2.0
import Foundation

/// Encodes `Encodable` values into Pebble's compact binary format (wire format: BinaryFormat.swift).
///
/// Values stream straight into one byte buffer, numbers are fixed-width little-endian, and
/// `[Int]`, `[Double]`, `Data` and the other common arrays are written as single blocks.
/// The encoder has no options and no state, so it is freely shareable. Any `Encodable` works,
/// including nested containers written out of order (then the value is encoded a second time,
/// buffering each nested container). A single container may not exceed 4 GiB.
///
/// The output carries no version byte: it is decoded only by the same executable (see
/// `BinaryTag`), never stored or sent to another program.
package struct BinaryEncoder: Sendable {
    /// Creates an encoder.
    package init() {}

    /// Appends the encoding of `value` to `bytes`, so a caller can write a frame header first
    /// and avoid a copy. If encoding throws, `bytes` is left as it was. Encoding in place saves
    /// the copy of a large payload and a second fresh buffer with its page faults
    /// (`Benchmarks/README.md`, "Design measurements").
    package func encode<T: Encodable>(_ value: T, into bytes: inout [UInt8]) throws {
        let start = bytes.count
        var state = binaryEncoderCache.take() ?? BinaryEncodingState(safeMode: false)
        swap(&state.bytes, &bytes)
        do {
            try state.encodeTopLevel(value)
            swap(&state.bytes, &bytes)
            BinaryEncodingState.recycle(&state)
            return
        } catch {
            swap(&state.bytes, &bytes)
            bytes.removeSubrange(start...)
            let retry = state.needsSafeMode
            BinaryEncodingState.recycle(&state)
            guard retry else { throw error }
        }
        // Streaming failed because nested containers were written out of order (legal but rare):
        // encode again with every nested container buffered on its own and spliced in at the end.
        let safe = BinaryEncodingState(safeMode: true)
        try safe.encodeTopLevel(value)
        bytes.append(contentsOf: try safe.finish())
    }

    /// Appends the encoding of `value` to `bytes` like ``encode(_:into:)``, except that every
    /// `Data` and `[UInt8]` of at least `threshold` bytes is left out: its tag and length are
    /// written, and its bytes are appended to `blocks` (in order, each with the position in `bytes`
    /// where it belongs), so a sender can send them from their own storage with `writev`, without
    /// copying them into the frame. The enclosing containers' lengths count them. The complete
    /// encoding (`BinaryExternalBlock.joined`) is what ``encode(_:into:)`` writes. If encoding
    /// throws, `bytes` and `blocks` are left as they were. A value whose containers are written
    /// out of order (the rare retry in safe mode) comes out whole, with no blocks.
    package func encode<T: Encodable>(
        _ value: T, into bytes: inout [UInt8], externalizingBlocksFrom threshold: Int,
        blocks: inout [BinaryExternalBlock]
    ) throws {
        let start = bytes.count
        var state = binaryEncoderCache.take() ?? BinaryEncodingState(safeMode: false)
        swap(&state.bytes, &bytes)
        state.externalThreshold = Swift.max(threshold, 1)
        do {
            try state.encodeTopLevel(value)
            swap(&state.bytes, &bytes)
            blocks += state.external
            BinaryEncodingState.recycle(&state)
            return
        } catch {
            swap(&state.bytes, &bytes)
            bytes.removeSubrange(start...)
            let retry = state.needsSafeMode
            BinaryEncodingState.recycle(&state)
            guard retry else { throw error }
        }
        let safe = BinaryEncodingState(safeMode: true)
        try safe.encodeTopLevel(value)
        bytes.append(contentsOf: try safe.finish())
    }

    /// Returns the encoding of `value`.
    package func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        try encode(value, into: &bytes)
        return bytes
    }
}

/// Thrown inside a streaming encode when containers were used out of order; the top level
/// catches it and encodes again in safe mode.
struct BinaryEncoderRetry: Error {}

/// An open container: its header position (patched with count and length when it closes).
struct BinaryEncodingFrame {
    var header: Int
    var id: Int
    var count: Int
    /// Position where a `superEncoder` was handed out and a value is due, or -1.
    var pendingSlot: Int
    var keyed: Bool
}

/// A separately buffered nested container (safe mode), spliced into its parent at `position`.
struct BinarySplice {
    var position: Int
    var child: BinaryEncodingState
    /// Headers of the parent's containers that were open at `position` and so contain the child.
    var enclosing: [Int]
}

/// Each thread's spare streaming encoder state.
let binaryEncoderCache = BinaryThreadCache<BinaryEncodingState>()

@inline(__always)
func binaryCast<T, U>(_ value: T, _: U.Type) -> U {
    unsafeBitCast(value, to: U.self)
}

/// The shared state of one encode: the output buffer and the stack of open containers.
///
/// Streaming mode writes everything into `bytes`; a container's header is patched when a write
/// to an outer container (or the end of the value) closes it. Writing to a container that was
/// already closed sets `needsSafeMode`, and the whole value is encoded again in safe mode, where
/// every nested container and super encoder gets its own state that `finish()` splices in.
final class BinaryEncodingState {
    struct Fields {
        var bytes: [UInt8] = []
        var frames: [BinaryEncodingFrame] = []
        /// Coding-path stack; each encoder and container knows the depth of its own prefix.
        var path: [any CodingKey] = []
        var nextID = 1
        var needsSafeMode = false
        var deferredError: (any Error)?
        var splices: [BinarySplice] = []
        /// Blocks from this size on are left out of `bytes` into `external` (`Int.max`: none).
        var externalThreshold = Int.max
        var external: [BinaryExternalBlock] = []
    }

    /// The mutable fields live in memory this object owns rather than in stored properties:
    /// stored class properties pay a runtime exclusivity check on every access (a quarter of the
    /// encoding time of small structs). Safe because one state serves one encode call on one
    /// thread, and no access to a field overlaps another access to it (no accessor below calls
    /// out to user code or to another accessor of the same field while it is active).
    private let fields: UnsafeMutablePointer<Fields>
    let safeMode: Bool

    init(safeMode: Bool) {
        self.safeMode = safeMode
        fields = .allocate(capacity: 1)
        fields.initialize(to: Fields())
    }

    deinit {
        fields.deinitialize(count: 1)
        fields.deallocate()
    }

    var bytes: [UInt8] {
        @inline(__always) _read { yield fields.pointee.bytes }
        @inline(__always) _modify { yield &fields.pointee.bytes }
    }
    var frames: [BinaryEncodingFrame] {
        @inline(__always) _read { yield fields.pointee.frames }
        @inline(__always) _modify { yield &fields.pointee.frames }
    }
    var path: [any CodingKey] {
        @inline(__always) _read { yield fields.pointee.path }
        @inline(__always) _modify { yield &fields.pointee.path }
    }
    var nextID: Int {
        @inline(__always) _read { yield fields.pointee.nextID }
        @inline(__always) _modify { yield &fields.pointee.nextID }
    }
    var needsSafeMode: Bool {
        @inline(__always) _read { yield fields.pointee.needsSafeMode }
        @inline(__always) _modify { yield &fields.pointee.needsSafeMode }
    }
    var deferredError: (any Error)? {
        @inline(__always) _read { yield fields.pointee.deferredError }
        @inline(__always) _modify { yield &fields.pointee.deferredError }
    }
    var splices: [BinarySplice] {
        @inline(__always) _read { yield fields.pointee.splices }
        @inline(__always) _modify { yield &fields.pointee.splices }
    }
    var externalThreshold: Int {
        @inline(__always) _read { yield fields.pointee.externalThreshold }
        @inline(__always) _modify { yield &fields.pointee.externalThreshold }
    }
    var external: [BinaryExternalBlock] {
        @inline(__always) _read { yield fields.pointee.external }
        @inline(__always) _modify { yield &fields.pointee.external }
    }

    // MARK: Top level

    /// Clears this streaming state and parks it in the thread's cache, unless an encoder or
    /// container escaped from `encode(to:)` still refers to it.
    static func recycle(_ state: inout BinaryEncodingState) {
        state.frames.removeAll(keepingCapacity: true)
        state.path.removeAll(keepingCapacity: true)
        state.splices.removeAll()
        state.nextID = 1
        state.needsSafeMode = false
        state.deferredError = nil
        state.externalThreshold = .max
        // A cached state must not keep the values of external blocks alive.
        if !state.external.isEmpty { state.external = [] }
        if state.bytes.capacity > 0 { state.bytes = [] }
        if !state.safeMode && isKnownUniquelyReferenced(&state) { binaryEncoderCache.put(state) }
    }

    func encodeTopLevel<T: Encodable>(_ value: T) throws {
        if try !encodeFast(value) {
            try encodeGeneric(value, pathDepth: 0, tail: .none, key: nil)
        }
        if needsSafeMode { throw BinaryEncoderRetry() }
        if let deferredError { throw deferredError }
    }

    /// Safe mode: closes everything and splices the separately buffered children in.
    func finish() throws -> [UInt8] {
        try closeFrames(downTo: 0)
        if let deferredError { throw deferredError }
        if splices.isEmpty { return bytes }
        var children: [[UInt8]] = []
        var total = bytes.count
        for splice in splices {
            var child = try splice.child.finish()
            if child.isEmpty { child = [BinaryTag.keyed, 0, 0, 0, 0, 0, 0, 0, 0] }
            for header in splice.enclosing {
                try addToBodyLength(at: header, child.count)
            }
            total += child.count
            children.append(child)
        }
        var out: [UInt8] = []
        out.reserveCapacity(total)
        var cursor = 0
        for (splice, child) in zip(splices, children) {
            out.append(contentsOf: bytes[cursor..<splice.position])
            out.append(contentsOf: child)
            cursor = splice.position
        }
        out.append(contentsOf: bytes[cursor...])
        return out
    }

    private func addToBodyLength(at header: Int, _ extra: Int) throws {
        let old = bytes.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: header + 5, as: UInt32.self))) }
        let new = old + extra
        guard new <= Int(UInt32.max) else { throw tooLarge() }
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(new).littleEndian, toByteOffset: header + 5, as: UInt32.self) }
    }

    // MARK: Values

    /// Encodes `value` through its own `encode(to:)`, with `key` appended to the coding path.
    func encodeGeneric<T: Encodable>(_ value: T, pathDepth: Int, tail: BinaryPathTail, key: (any CodingKey)?) throws {
        var depth = binaryResetPath(&path, to: pathDepth, tail: tail)
        if let key {
            path.append(key)
            depth += 1
        }
        let frameDepth = frames.count
        let start = bytes.count
        try value.encode(to: BinaryEncoderImpl(state: self, start: start, frameDepth: frameDepth, pathDepth: depth))
        try closeFrames(downTo: frameDepth)
        if bytes.count == start { writeEmptyKeyed() }
    }

    /// Writes the types with a dedicated representation; returns false for any other type.
    ///
    /// Packed number arrays, raw bytes, `[String]` and `[Bool]` each have a path of their own,
    /// from 2 to over 100 times faster than the general `Codable` path for the same type
    /// (`Benchmarks/README.md`, "Design measurements"). Scalars (`Int`, `String`, …) have no
    /// general path to compare with: they are what the containers write.
    func encodeFast<T: Encodable>(_ value: T) throws -> Bool {
        if binaryFastPathDisabled(T.self) { return false }
        switch MemoryLayout<T>.size {
        case 8:
            if MemoryLayout<Int>.size == 8 {
                if T.self == Int.self {
                    writeScalar(BinaryTag.int64, binaryCast(value, Int.self))
                    return true
                }
                if T.self == [Int].self {
                    writePacked(binaryCast(value, [Int].self), BinaryTag.int64)
                    return true
                }
                if T.self == UInt.self {
                    writeScalar(BinaryTag.uint64, binaryCast(value, UInt.self))
                    return true
                }
            }
            if T.self == Double.self {
                writeScalar(BinaryTag.float64, binaryCast(value, Double.self).bitPattern)
                return true
            }
            if T.self == Int64.self {
                writeScalar(BinaryTag.int64, binaryCast(value, Int64.self))
                return true
            }
            if T.self == UInt64.self {
                writeScalar(BinaryTag.uint64, binaryCast(value, UInt64.self))
                return true
            }
            if T.self == [UInt8].self {
                writeBytes(binaryCast(value, [UInt8].self))
                return true
            }
            if T.self == [Double].self {
                writePacked(binaryCast(value, [Double].self), BinaryTag.float64)
                return true
            }
            if T.self == [String].self {
                try writeStringArray(binaryCast(value, [String].self))
                return true
            }
            if T.self == [Int64].self {
                writePacked(binaryCast(value, [Int64].self), BinaryTag.int64)
                return true
            }
            if T.self == [UInt64].self {
                writePacked(binaryCast(value, [UInt64].self), BinaryTag.uint64)
                return true
            }
            if T.self == [Int32].self {
                writePacked(binaryCast(value, [Int32].self), BinaryTag.int32)
                return true
            }
            if T.self == [Float].self {
                writePacked(binaryCast(value, [Float].self), BinaryTag.float32)
                return true
            }
            if T.self == [Bool].self {
                try writeBoolArray(binaryCast(value, [Bool].self))
                return true
            }
            if T.self == [UInt32].self {
                writePacked(binaryCast(value, [UInt32].self), BinaryTag.uint32)
                return true
            }
            if T.self == [Int16].self {
                writePacked(binaryCast(value, [Int16].self), BinaryTag.int16)
                return true
            }
            if T.self == [UInt16].self {
                writePacked(binaryCast(value, [UInt16].self), BinaryTag.uint16)
                return true
            }
            if T.self == [Int8].self {
                writePacked(binaryCast(value, [Int8].self), BinaryTag.int8)
                return true
            }
            if MemoryLayout<UInt>.size == 8 && T.self == [UInt].self {
                writePacked(binaryCast(value, [UInt].self), BinaryTag.uint64)
                return true
            }
        case 16:
            if T.self == String.self {
                writeString(binaryCast(value, String.self))
                return true
            }
            if T.self == Data.self {
                writeData(binaryCast(value, Data.self))
                return true
            }
            if T.self == Int128.self {
                writeScalar(BinaryTag.int128, binaryCast(value, Int128.self))
                return true
            }
            if T.self == UInt128.self {
                writeScalar(BinaryTag.uint128, binaryCast(value, UInt128.self))
                return true
            }
        case 1:
            if T.self == Bool.self {
                writeBool(binaryCast(value, Bool.self))
                return true
            }
            if T.self == UInt8.self {
                writeScalar(BinaryTag.uint8, binaryCast(value, UInt8.self))
                return true
            }
            if T.self == Int8.self {
                writeScalar(BinaryTag.int8, binaryCast(value, Int8.self))
                return true
            }
        case 4:
            if T.self == Int32.self {
                writeScalar(BinaryTag.int32, binaryCast(value, Int32.self))
                return true
            }
            if T.self == UInt32.self {
                writeScalar(BinaryTag.uint32, binaryCast(value, UInt32.self))
                return true
            }
            if T.self == Float.self {
                writeScalar(BinaryTag.float32, binaryCast(value, Float.self).bitPattern)
                return true
            }
            if MemoryLayout<Int>.size == 4 {
                if T.self == Int.self {
                    writeScalar(BinaryTag.int64, Int64(binaryCast(value, Int.self)))
                    return true
                }
                if T.self == UInt.self {
                    writeScalar(BinaryTag.uint64, UInt64(binaryCast(value, UInt.self)))
                    return true
                }
            }
        case 2:
            if T.self == Int16.self {
                writeScalar(BinaryTag.int16, binaryCast(value, Int16.self))
                return true
            }
            if T.self == UInt16.self {
                writeScalar(BinaryTag.uint16, binaryCast(value, UInt16.self))
                return true
            }
        default:
            break
        }
        return false
    }

    // MARK: Writing

    @inline(__always)
    func writeByte(_ byte: UInt8) {
        bytes.append(byte)
    }

    /// Appends `tag` and the little-endian bytes of `value`.
    @inline(__always)
    func writeScalar<I: FixedWidthInteger>(_ tag: UInt8, _ value: I) {
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &buffer) { raw in
            raw[0] = tag
            raw.storeBytes(of: value.littleEndian, toByteOffset: 1, as: I.self)
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[0..<(1 + MemoryLayout<I>.size)]))
        }
    }

    @inline(__always)
    func writeBool(_ value: Bool) {
        bytes.append(value ? BinaryTag.trueValue : BinaryTag.falseValue)
    }

    @inline(__always)
    func writeVarint(_ value: Int) {
        var x = UInt64(truncatingIfNeeded: value)
        if x < 0x80 {
            bytes.append(UInt8(x))
            return
        }
        var buffer: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &buffer) { raw in
            var n = 0
            while x >= 0x80 {
                raw[n] = UInt8(truncatingIfNeeded: x) | 0x80
                x >>= 7
                n += 1
            }
            raw[n] = UInt8(x)
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[0...n]))
        }
    }

    /// Appends a varint length and the UTF-8 bytes of `string`.
    @inline(__always)
    func writeUTF8(_ string: String) {
        var string = string
        string.withUTF8 { utf8 in
            writeVarint(utf8.count)
            bytes.append(contentsOf: utf8)
        }
    }

    @inline(__always)
    func writeString(_ string: String) {
        bytes.append(BinaryTag.string)
        writeUTF8(string)
    }

    @inline(__always)
    func writeKey<K: CodingKey>(_ key: K) {
        writeUTF8(key.stringValue)
    }

    /// Bytes reserved past a large block, so the few fields written after a payload do not move
    /// the whole buffer again.
    static let slackAfterBlock = 4096

    /// Makes room for a block of `count` bytes and its tag and varint, so that it is copied once:
    /// an array that must grow for a large block grows to the block's end plus some slack (never
    /// by less than doubling, so many blocks in a row stay linear), not to twice a size that a
    /// later field would overflow, moving the block a second time.
    @inline(__always)
    func reserveForBlock(_ count: Int) {
        let needed = bytes.count + 11 + count
        guard needed > bytes.capacity else { return }
        bytes.reserveCapacity(Swift.max(needed + Self.slackAfterBlock, 2 * bytes.capacity))
    }

    /// `Data`: tag, varint length, then its bytes, with one copy into the output (or none, as an
    /// external block).
    func writeData(_ data: Data) {
        if data.count >= externalThreshold { return writeExternal(.data(data), data.count) }
        reserveForBlock(data.count)
        bytes.append(BinaryTag.bytes)
        writeVarint(data.count)
        data.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    /// `[UInt8]`: as `Data`.
    func writeBytes(_ array: [UInt8]) {
        if array.count >= externalThreshold { return writeExternal(.bytes(array), array.count) }
        reserveForBlock(array.count)
        bytes.append(BinaryTag.bytes)
        writeVarint(array.count)
        array.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    /// The tag and length of a block whose bytes stay in `storage`, recorded in `external`.
    func writeExternal(_ storage: BinaryExternalBlock.Storage, _ count: Int) {
        bytes.append(BinaryTag.bytes)
        writeVarint(count)
        external.append(BinaryExternalBlock(position: bytes.count, storage))
    }

    /// The bytes of the external blocks that lie after `position` (inside a container whose
    /// header is there): the last few blocks, usually none.
    @inline(__always)
    func externalBytes(after position: Int) -> Int {
        guard let last = external.last, last.position > position else { return 0 }
        var total = 0
        for block in external.reversed() {
            guard block.position > position else { break }
            total += block.count
        }
        return total
    }

    /// A packed array: tag, varint count, raw little-endian elements.
    func writePacked<E: FixedWidthInteger>(_ array: [E], _ scalarTag: UInt8) {
        reserveForBlock(array.count * MemoryLayout<E>.size)
        bytes.append(BinaryTag.packedArray | scalarTag)
        writeVarint(array.count)
        #if _endian(little)
        array.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
        bytes.reserveCapacity(bytes.count + array.count * MemoryLayout<E>.size)
        for element in array {
            withUnsafeBytes(of: element.littleEndian) { bytes.append(contentsOf: $0) }
        }
        #endif
    }

    func writePacked<E: BinaryFloatingPoint>(_ array: [E], _ scalarTag: UInt8) {
        reserveForBlock(array.count * MemoryLayout<E>.size)
        bytes.append(BinaryTag.packedArray | scalarTag)
        writeVarint(array.count)
        #if _endian(little)
        array.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
        for element in array {
            if let d = element as? Double {
                withUnsafeBytes(of: d.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            } else if let f = element as? Float {
                withUnsafeBytes(of: f.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            }
        }
        #endif
    }

    /// `[Bool]`: an unkeyed container whose elements are the one-byte bool tags.
    func writeBoolArray(_ array: [Bool]) throws {
        guard array.count <= Int(UInt32.max) else { throw tooLarge() }
        let n = UInt64(array.count)
        writeScalar(BinaryTag.unkeyed, n | n << 32)
        let start = bytes.count
        array.withUnsafeBytes { bytes.append(contentsOf: $0) }
        bytes.withUnsafeMutableBufferPointer { buffer in
            for i in start..<buffer.count { buffer[i] &+= BinaryTag.falseValue }
        }
    }

    /// `[String]`: an unkeyed container of strings.
    func writeStringArray(_ array: [String]) throws {
        let header = bytes.count
        writeEmptyKeyed()
        bytes[header] = BinaryTag.unkeyed
        for string in array { writeString(string) }
        try patchHeader(header, count: array.count)
    }

    @inline(__always)
    func writeEmptyKeyed() {
        writeScalar(BinaryTag.keyed, UInt64(0))
    }

    func patchHeader(_ header: Int, count: Int) throws {
        let body = bytes.count - header - BinaryTag.containerHeaderSize + externalBytes(after: header)
        guard body <= Int(UInt32.max), count <= Int(UInt32.max) else { throw tooLarge() }
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(count).littleEndian, toByteOffset: header + 1, as: UInt32.self)
            raw.storeBytes(of: UInt32(body).littleEndian, toByteOffset: header + 5, as: UInt32.self)
        }
    }

    func tooLarge() -> EncodingError {
        EncodingError.invalidValue(
            bytes.count,
            EncodingError.Context(
                codingPath: path, debugDescription: "BinaryEncoder: a container exceeds 4 GiB or 2^32 entries"))
    }

    // MARK: Containers

    /// Opens a container and returns its frame index and id.
    func pushFrame(keyed: Bool) -> (Int, Int) {
        let id = nextID
        nextID += 1
        frames.append(BinaryEncodingFrame(header: bytes.count, id: id, count: 0, pendingSlot: -1, keyed: keyed))
        writeScalar(keyed ? BinaryTag.keyed : BinaryTag.unkeyed, UInt64(0))
        return (frames.count - 1, id)
    }

    func closeTop() throws {
        let frame = frames.removeLast()
        if frame.pendingSlot >= 0 && bytes.count == frame.pendingSlot { writeEmptyKeyed() }
        try patchHeader(frame.header, count: frame.count)
    }

    @inline(__always)
    func closeFrames(downTo depth: Int) throws {
        while frames.count > depth { try closeTop() }
    }

    /// Makes frame `index` the innermost open container and counts one more entry in it.
    @inline(__always)
    func beginEntry(_ index: Int, _ id: Int) throws {
        if index >= 0 && index == frames.count &- 1 && frames[index].id == id && frames[index].pendingSlot < 0 {
            frames[index].count += 1
            return
        }
        try beginEntrySlow(index, id)
    }

    func beginEntrySlow(_ index: Int, _ id: Int) throws {
        guard index >= 0, index < frames.count, frames[index].id == id else {
            throw misplaced("a container was written to after an enclosing container had moved on")
        }
        try closeFrames(downTo: index + 1)
        if frames[index].pendingSlot >= 0 {
            if bytes.count == frames[index].pendingSlot { writeEmptyKeyed() }
            frames[index].pendingSlot = -1
        }
        frames[index].count += 1
    }

    /// Like `beginEntry` for the non-throwing container methods: records the failure instead.
    func tryBeginEntry(_ index: Int, _ id: Int) -> Bool {
        do {
            try beginEntry(index, id)
            return true
        } catch {
            if deferredError == nil && !needsSafeMode { deferredError = error }
            return false
        }
    }

    /// An out-of-order use: in streaming mode, asks for a safe-mode retry; else a real error.
    func misplaced(_ message: String) -> any Error {
        if !safeMode {
            needsSafeMode = true
            return BinaryEncoderRetry()
        }
        return EncodingError.invalidValue(
            message,
            EncodingError.Context(
                codingPath: path, debugDescription: "BinaryEncoder: \(message)"))
    }

    func recordMisplaced(_ message: String) {
        let error = misplaced(message)
        if !needsSafeMode && deferredError == nil { deferredError = error }
    }

    /// `Encoder.container`/`unkeyedContainer` for the encoder whose value starts at `start`.
    func openContainer(keyed: Bool, start: Int, frameDepth: Int) -> (Int, Int) {
        if frames.count > frameDepth && frames[frameDepth].header == start {
            // The same encoder asked again (e.g. a class and its superclass share an encoder).
            do { try closeFrames(downTo: frameDepth + 1) } catch {
                if deferredError == nil { deferredError = error }
            }
            guard frames[frameDepth].keyed == keyed else {
                recordMisplaced("an encoder was asked for both a keyed and an unkeyed container")
                return (-1, 0)
            }
            return (frameDepth, frames[frameDepth].id)
        }
        if frames.count == frameDepth && bytes.count == start {
            return pushFrame(keyed: keyed)
        }
        recordMisplaced("a container was requested from an encoder that had already encoded a value")
        return (-1, 0)
    }

    /// Checks that a single-value container may write its value now.
    @inline(__always)
    func beginSingleValue(start: Int, frameDepth: Int) throws {
        guard frames.count == frameDepth && bytes.count == start else {
            throw misplaced("a single value container encoded more than one value, or its encoder already had a container")
        }
    }

    /// Opens a nested container whose key (or slot) the caller has written.
    func openNested(keyed: Bool, pathDepth: Int, tail: BinaryPathTail, key: any CodingKey)
        -> (state: BinaryEncodingState, index: Int, id: Int, pathDepth: Int, tail: BinaryPathTail)
    {
        if !safeMode {
            let (index, id) = pushFrame(keyed: keyed)
            return (self, index, id, pathDepth, tail.appending(key))
        }
        let child = BinaryEncodingState(safeMode: true)
        child.path = binaryCodingPath(path, pathDepth, tail)
        splices.append(BinarySplice(position: bytes.count, child: child, enclosing: frames.map(\.header)))
        let (index, id) = child.pushFrame(keyed: keyed)
        return (child, index, id, child.path.count, .one(key))
    }

    /// A super encoder for a value due in frame `index`, whose key (or slot) the caller has written.
    func openSuperEncoder(index: Int, pathDepth: Int, tail: BinaryPathTail, key: any CodingKey) -> BinaryEncoderImpl {
        if !safeMode {
            frames[index].pendingSlot = bytes.count
            let depth = binaryResetPath(&path, to: pathDepth, tail: tail.appending(key))
            return BinaryEncoderImpl(state: self, start: bytes.count, frameDepth: index + 1, pathDepth: depth)
        }
        let child = BinaryEncodingState(safeMode: true)
        child.path = binaryCodingPath(path, pathDepth, tail.appending(key))
        splices.append(BinarySplice(position: bytes.count, child: child, enclosing: frames.map(\.header)))
        return BinaryEncoderImpl(state: child, start: 0, frameDepth: 0, pathDepth: child.path.count)
    }
}

/// The `Encoder` handed to `encode(to:)`: a position in the state's buffer. Three words, so it
/// fits an existential's inline buffer without a heap box.
struct BinaryEncoderImpl: Encoder {
    let state: BinaryEncodingState
    /// Where this encoder's value begins in `state.bytes`.
    let start: Int
    /// Open-container depth (low 32 bits) and coding-path depth (high 32 bits).
    let depths: Int

    init(state: BinaryEncodingState, start: Int, frameDepth: Int, pathDepth: Int) {
        self.state = state
        self.start = start
        self.depths = frameDepth | pathDepth << 32
    }

    var frameDepth: Int { depths & 0xFFFF_FFFF }
    var pathDepth: Int { depths >> 32 }
    var codingPath: [any CodingKey] { Array(state.path.prefix(pathDepth)) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let (index, id) = state.openContainer(keyed: true, start: start, frameDepth: frameDepth)
        return KeyedEncodingContainer(
            BinaryKeyedEncodingContainer<Key>(
                state: state, index: index, id: id, pathDepth: pathDepth, tail: .none))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let (index, id) = state.openContainer(keyed: false, start: start, frameDepth: frameDepth)
        return BinaryUnkeyedEncodingContainer(state: state, index: index, id: id, pathDepth: pathDepth, tail: .none)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        BinarySingleValueEncodingContainer(encoder: self)
    }
}

struct BinaryKeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let state: BinaryEncodingState
    let index: Int
    let id: Int
    let pathDepth: Int
    let tail: BinaryPathTail

    var codingPath: [any CodingKey] { binaryCodingPath(state.path, pathDepth, tail) }

    @inline(__always)
    private func begin(_ key: Key) throws {
        try state.beginEntry(index, id)
        state.writeKey(key)
    }

    mutating func encodeNil(forKey key: Key) throws {
        try begin(key)
        state.writeByte(BinaryTag.null)
    }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        try begin(key)
        state.writeBool(value)
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        try begin(key)
        state.writeString(value)
    }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        try begin(key)
        state.writeScalar(BinaryTag.float64, value.bitPattern)
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        try begin(key)
        state.writeScalar(BinaryTag.float32, value.bitPattern)
    }
    mutating func encode(_ value: Int, forKey key: Key) throws {
        try begin(key)
        state.writeScalar(BinaryTag.int64, Int64(value))
    }
    mutating func encode(_ value: Int8, forKey key: Key) throws {
        try begin(key)
        state.writeScalar(BinaryTag.int8, value)
    }
    mutating func encode(_ value: Int16, forKey key: Key) throws {
        try begin(key)
        state.writeScalar(BinaryTag.int16, value)
    }
    mutating func encode(_ value: Int32, forKey key: Key) throws {
        try begin(key)
        state.writeScalar(BinaryTag.int32, value)
    }
    mutating func encode(_ value: Int64, forKey key: Key) throws {
        try begin(key)
        state.writeScalar(BinaryTag.int64, value)
    }
    mutating func encode(_ value: Int128, forKey key: Key) throws {
        try begin(key)
        state.writeScalar(BinaryTag.int128, value)
    }
    mutating func encode(_ value: UInt, forKey key: Key) throws {
        try begin(key)
        state.writeScalar(BinaryTag.uint64, UInt64(value))
    }
    mutating func encode(_ value: UInt8, forKey key: Key) throws {
        try begin(key)
        state.writeScalar(BinaryTag.uint8, value)
    }
    mutating func encode(_ value: UInt16, forKey key: Key) throws {
        try begin(key)
        state.writeScalar(BinaryTag.uint16, value)
    }
    mutating func encode(_ value: UInt32, forKey key: Key) throws {
        try begin(key)
        state.writeScalar(BinaryTag.uint32, value)
    }
    mutating func encode(_ value: UInt64, forKey key: Key) throws {
        try begin(key)
        state.writeScalar(BinaryTag.uint64, value)
    }
    mutating func encode(_ value: UInt128, forKey key: Key) throws {
        try begin(key)
        state.writeScalar(BinaryTag.uint128, value)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try begin(key)
        if try state.encodeFast(value) { return }
        try state.encodeGeneric(value, pathDepth: pathDepth, tail: tail, key: binaryPathKey(key))
    }

    /// Omits the key for nil; for a present value that is itself optional (a `T??` property),
    /// writes the `some` marker so `.some(nil)` survives.
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        guard let value else { return }
        try begin(key)
        if try state.encodeFast(value) { return }
        if T.self is any BinaryOptionalMarker.Type { state.writeByte(BinaryTag.some) }
        try state.encodeGeneric(value, pathDepth: pathDepth, tail: tail, key: binaryPathKey(key))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        guard state.tryBeginEntry(index, id) else {
            return KeyedEncodingContainer(
                BinaryKeyedEncodingContainer<NestedKey>(
                    state: state, index: -1, id: 0, pathDepth: pathDepth, tail: tail))
        }
        state.writeKey(key)
        let nested = state.openNested(keyed: true, pathDepth: pathDepth, tail: tail, key: binaryPathKey(key))
        return KeyedEncodingContainer(
            BinaryKeyedEncodingContainer<NestedKey>(
                state: nested.state, index: nested.index, id: nested.id, pathDepth: nested.pathDepth, tail: nested.tail))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        guard state.tryBeginEntry(index, id) else {
            return BinaryUnkeyedEncodingContainer(state: state, index: -1, id: 0, pathDepth: pathDepth, tail: tail)
        }
        state.writeKey(key)
        let nested = state.openNested(keyed: false, pathDepth: pathDepth, tail: tail, key: binaryPathKey(key))
        return BinaryUnkeyedEncodingContainer(
            state: nested.state, index: nested.index, id: nested.id, pathDepth: nested.pathDepth, tail: nested.tail)
    }

    mutating func superEncoder() -> any Encoder {
        superEncoder(name: BinaryStringKey.superKey.stringValue, key: BinaryStringKey.superKey)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        superEncoder(name: key.stringValue, key: binaryPathKey(key))
    }

    private mutating func superEncoder(name: String, key: any CodingKey) -> any Encoder {
        guard state.tryBeginEntry(index, id) else {
            return BinaryEncoderImpl(state: state, start: -1, frameDepth: 0x7FFF_FFFF, pathDepth: pathDepth)
        }
        state.writeUTF8(name)
        return state.openSuperEncoder(index: index, pathDepth: pathDepth, tail: tail, key: key)
    }
}

struct BinaryUnkeyedEncodingContainer: UnkeyedEncodingContainer {
    let state: BinaryEncodingState
    let index: Int
    let id: Int
    let pathDepth: Int
    let tail: BinaryPathTail
    private var localCount = 0

    init(state: BinaryEncodingState, index: Int, id: Int, pathDepth: Int, tail: BinaryPathTail) {
        self.state = state
        self.index = index
        self.id = id
        self.pathDepth = pathDepth
        self.tail = tail
    }

    var codingPath: [any CodingKey] { binaryCodingPath(state.path, pathDepth, tail) }

    var count: Int {
        if index >= 0 && index < state.frames.count && state.frames[index].id == id { return state.frames[index].count }
        return localCount
    }

    @inline(__always)
    private mutating func begin() throws {
        try state.beginEntry(index, id)
        localCount += 1
    }

    mutating func encodeNil() throws {
        try begin()
        state.writeByte(BinaryTag.null)
    }
    mutating func encode(_ value: Bool) throws {
        try begin()
        state.writeBool(value)
    }
    mutating func encode(_ value: String) throws {
        try begin()
        state.writeString(value)
    }
    mutating func encode(_ value: Double) throws {
        try begin()
        state.writeScalar(BinaryTag.float64, value.bitPattern)
    }
    mutating func encode(_ value: Float) throws {
        try begin()
        state.writeScalar(BinaryTag.float32, value.bitPattern)
    }
    mutating func encode(_ value: Int) throws {
        try begin()
        state.writeScalar(BinaryTag.int64, Int64(value))
    }
    mutating func encode(_ value: Int8) throws {
        try begin()
        state.writeScalar(BinaryTag.int8, value)
    }
    mutating func encode(_ value: Int16) throws {
        try begin()
        state.writeScalar(BinaryTag.int16, value)
    }
    mutating func encode(_ value: Int32) throws {
        try begin()
        state.writeScalar(BinaryTag.int32, value)
    }
    mutating func encode(_ value: Int64) throws {
        try begin()
        state.writeScalar(BinaryTag.int64, value)
    }
    mutating func encode(_ value: Int128) throws {
        try begin()
        state.writeScalar(BinaryTag.int128, value)
    }
    mutating func encode(_ value: UInt) throws {
        try begin()
        state.writeScalar(BinaryTag.uint64, UInt64(value))
    }
    mutating func encode(_ value: UInt8) throws {
        try begin()
        state.writeScalar(BinaryTag.uint8, value)
    }
    mutating func encode(_ value: UInt16) throws {
        try begin()
        state.writeScalar(BinaryTag.uint16, value)
    }
    mutating func encode(_ value: UInt32) throws {
        try begin()
        state.writeScalar(BinaryTag.uint32, value)
    }
    mutating func encode(_ value: UInt64) throws {
        try begin()
        state.writeScalar(BinaryTag.uint64, value)
    }
    mutating func encode(_ value: UInt128) throws {
        try begin()
        state.writeScalar(BinaryTag.uint128, value)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try begin()
        if try state.encodeFast(value) { return }
        try state.encodeGeneric(value, pathDepth: pathDepth, tail: tail, key: BinaryIndexKey(localCount - 1))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        guard state.tryBeginEntry(index, id) else {
            return KeyedEncodingContainer(
                BinaryKeyedEncodingContainer<NestedKey>(
                    state: state, index: -1, id: 0, pathDepth: pathDepth, tail: tail))
        }
        localCount += 1
        let nested = state.openNested(keyed: true, pathDepth: pathDepth, tail: tail, key: BinaryIndexKey(localCount - 1))
        return KeyedEncodingContainer(
            BinaryKeyedEncodingContainer<NestedKey>(
                state: nested.state, index: nested.index, id: nested.id, pathDepth: nested.pathDepth, tail: nested.tail))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        guard state.tryBeginEntry(index, id) else {
            return BinaryUnkeyedEncodingContainer(state: state, index: -1, id: 0, pathDepth: pathDepth, tail: tail)
        }
        localCount += 1
        let nested = state.openNested(keyed: false, pathDepth: pathDepth, tail: tail, key: BinaryIndexKey(localCount - 1))
        return BinaryUnkeyedEncodingContainer(
            state: nested.state, index: nested.index, id: nested.id, pathDepth: nested.pathDepth, tail: nested.tail)
    }

    mutating func superEncoder() -> any Encoder {
        guard state.tryBeginEntry(index, id) else {
            return BinaryEncoderImpl(state: state, start: -1, frameDepth: 0x7FFF_FFFF, pathDepth: pathDepth)
        }
        localCount += 1
        return state.openSuperEncoder(index: index, pathDepth: pathDepth, tail: tail, key: BinaryIndexKey(localCount - 1))
    }
}

struct BinarySingleValueEncodingContainer: SingleValueEncodingContainer {
    let encoder: BinaryEncoderImpl

    var codingPath: [any CodingKey] { encoder.codingPath }
    private var state: BinaryEncodingState { encoder.state }

    @inline(__always)
    private func begin() throws {
        try encoder.state.beginSingleValue(start: encoder.start, frameDepth: encoder.frameDepth)
    }

    mutating func encodeNil() throws {
        try begin()
        state.writeByte(BinaryTag.null)
    }
    mutating func encode(_ value: Bool) throws {
        try begin()
        state.writeBool(value)
    }
    mutating func encode(_ value: String) throws {
        try begin()
        state.writeString(value)
    }
    mutating func encode(_ value: Double) throws {
        try begin()
        state.writeScalar(BinaryTag.float64, value.bitPattern)
    }
    mutating func encode(_ value: Float) throws {
        try begin()
        state.writeScalar(BinaryTag.float32, value.bitPattern)
    }
    mutating func encode(_ value: Int) throws {
        try begin()
        state.writeScalar(BinaryTag.int64, Int64(value))
    }
    mutating func encode(_ value: Int8) throws {
        try begin()
        state.writeScalar(BinaryTag.int8, value)
    }
    mutating func encode(_ value: Int16) throws {
        try begin()
        state.writeScalar(BinaryTag.int16, value)
    }
    mutating func encode(_ value: Int32) throws {
        try begin()
        state.writeScalar(BinaryTag.int32, value)
    }
    mutating func encode(_ value: Int64) throws {
        try begin()
        state.writeScalar(BinaryTag.int64, value)
    }
    mutating func encode(_ value: Int128) throws {
        try begin()
        state.writeScalar(BinaryTag.int128, value)
    }
    mutating func encode(_ value: UInt) throws {
        try begin()
        state.writeScalar(BinaryTag.uint64, UInt64(value))
    }
    mutating func encode(_ value: UInt8) throws {
        try begin()
        state.writeScalar(BinaryTag.uint8, value)
    }
    mutating func encode(_ value: UInt16) throws {
        try begin()
        state.writeScalar(BinaryTag.uint16, value)
    }
    mutating func encode(_ value: UInt32) throws {
        try begin()
        state.writeScalar(BinaryTag.uint32, value)
    }
    mutating func encode(_ value: UInt64) throws {
        try begin()
        state.writeScalar(BinaryTag.uint64, value)
    }
    mutating func encode(_ value: UInt128) throws {
        try begin()
        state.writeScalar(BinaryTag.uint128, value)
    }

    /// A value that is itself optional (the payload of a `T??`) gets the `some` marker first.
    mutating func encode<T: Encodable>(_ value: T) throws {
        try begin()
        if try state.encodeFast(value) { return }
        if T.self is any BinaryOptionalMarker.Type { state.writeByte(BinaryTag.some) }
        try state.encodeGeneric(value, pathDepth: encoder.pathDepth, tail: .none, key: nil)
    }
}
