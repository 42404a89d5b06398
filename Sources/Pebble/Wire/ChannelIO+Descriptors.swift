import _PebbleShim

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ChannelIO {
    /// Sends every byte, with `fds` attached to the first ones (SCM_RIGHTS); `false` when the peer
    /// is gone. The descriptors stay open here: the caller closes its copies.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8], passing fds: [Int32]) -> Bool {
        guard !fds.isEmpty else { return sendAll(fd, bytes) }
        let sent = bytes.withUnsafeBytes { buffer in
            fds.withUnsafeBufferPointer { pebble_send_with_fds(fd, buffer.baseAddress, buffer.count, $0.baseAddress, Int32($0.count)) }
        }
        guard sent >= 0 else { return false }
        return sent == bytes.count || sendAll(fd, Array(bytes[sent...]))
    }

    /// Reads one frame body (`nil` at end of file, on error, or for a frame over `limit`), and
    /// appends to `fds` the descriptors that came attached to its header (opened close-on-exec).
    static func readFrame(_ fd: Int32, limit: Int, receiving fds: inout [Int32]) -> [UInt8]? {
        var header = [UInt8](repeating: 0, count: Frame.headerSize)
        var received = [Int32](repeating: -1, count: Int(PEBBLE_MAX_PASSED_FDS))
        var count: Int32 = 0
        let got = header.withUnsafeMutableBytes { buffer in
            pebble_receive_exactly_with_fds(fd, buffer.baseAddress, buffer.count, &received, Int32(received.count), &count)
        }
        fds += received.prefix(Int(count))
        guard got == Frame.headerSize else { return nil }
        let length = header.withUnsafeBytes(Frame.readLength)
        guard length >= 1 && length <= limit else { return nil }
        return readExactly(fd, length)
    }
}
