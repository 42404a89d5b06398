// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `close(2)`, for types with a `close()` of their own, inside which a bare `close(fd)` would name
/// the method: the C library's function without a module prefix, which is `Glibc` or `Musl`
/// depending on the platform.
func closeFileDescriptor(_ fd: Int32) {
    close(fd)
}
