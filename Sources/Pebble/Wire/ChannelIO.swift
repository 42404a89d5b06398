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

    /// Sends `prefix` (a small frame built on the stack) then `frame`, with one `sendmsg` of two
    /// buffers (no copy of either into the other); `false` when the peer is gone.
    static func sendAll(_ fd: Int32, _ frame: [UInt8], after prefix: UnsafeRawBufferPointer) -> Bool {
        frame.withUnsafeBytes { frame in
            var vectors = [
                iovec(iov_base: UnsafeMutableRawPointer(mutating: prefix.baseAddress), iov_len: prefix.count),
                iovec(iov_base: UnsafeMutableRawPointer(mutating: frame.baseAddress), iov_len: frame.count)
            ]
            return pebble_send_frames(fd, &vectors, 2) == 0
        }
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
