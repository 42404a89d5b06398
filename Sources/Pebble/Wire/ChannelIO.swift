// SPDX-License-Identifier: Apache-2.0
import Dispatch
import _PebbleShim // the sys/socket.h constants (MSG_NOSIGNAL) in whole-module builds

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Blocking channel I/O, shared by the worker and the parent's send path.
enum ChannelIO {
    /// Sends every byte; `false` when the peer is gone. MSG_NOSIGNAL: a dead peer never raises
    /// SIGPIPE, and the process's SIGPIPE disposition is left alone.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let sent = send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                if sent < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += sent
            }
            return true
        }
    }

    /// Sends `prefix` (a small frame built on the stack, or empty) then `bytes`, with `sendmsg`
    /// from where each part is (no copy of any into another); `false` when the peer is gone. On a
    /// blocking stream socket each `sendmsg` takes everything unless a signal interrupts it; the
    /// rest then goes in the next.
    static func sendAll(
        _ fd: Int32, _ bytes: ScatteredBytes, after prefix: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) -> Bool {
        if prefix.isEmpty && bytes.blocks.isEmpty { return sendAll(fd, bytes.head) }
        return bytes.withVectors { vectors in
            if let base = prefix.baseAddress, !prefix.isEmpty {
                vectors.insert(iovec(iov_base: UnsafeMutableRawPointer(mutating: base), iov_len: prefix.count), at: 0)
            }
            return vectors.withUnsafeMutableBufferPointer { pebble_send_frames(fd, $0.baseAddress!, Int32($0.count)) == 0 }
        }
    }

    /// Reads the head of the ``MessageKind/request`` frame that answers the worker's fetch of
    /// offering `sequence`, and returns the size of the request that follows; `nil` at end of
    /// file, on error, for a request over `limit`, or for any other frame (none comes while a
    /// fetch is answered).
    static func readRequestHead(_ fd: Int32, sequence: UInt64, limit: Int) -> Int? {
        // The frame's length counts its kind byte and the sequence number before the request.
        let prefix = 1 + MemoryLayout<UInt64>.size
        guard let head = readExactly(fd, Frame.headerSize + prefix), head[Frame.headerSize] == MessageKind.request.rawValue else {
            return nil
        }
        let (length, received) = head.withUnsafeBytes { bytes in
            (Frame.readLength(bytes), UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: Frame.headerSize + 1, as: UInt64.self)))
        }
        guard received == sequence, length >= prefix, length - prefix <= limit else { return nil }
        return length - prefix
    }

    /// Reads exactly `count` bytes; `nil` at end of file or on error.
    static func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        guard count > 0 else { return [] }
        var complete = false
        // Not zero-filled first: a large job is read straight into its buffer.
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            initialized = readFully(fd, into: UnsafeMutableRawBufferPointer(buffer), from: 0)
            complete = initialized == count
        }
        return complete ? bytes : nil
    }

    /// Reads into `buffer[offset...]` until it is full, end of file or an error; returns how many
    /// bytes of `buffer` are filled.
    static func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, from offset: Int) -> Int {
        var offset = offset
        while offset < buffer.count {
            let got = read(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { break }
            offset += got
        }
        return offset
    }
}
