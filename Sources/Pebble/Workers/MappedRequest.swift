// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A job request that came in a memfd (a large one), mapped rather than read: its pages are the
/// ones the pool wrote, not copied. A large `Data` decoded from it is a view that keeps it; it is
/// unmapped when the last one goes.
///
/// Mapped private and writable, so that a job that mutates such a `Data` in place (the only
/// reference to it) copies the pages it writes and never changes the memfd. The pages are mapped
/// at once (`MAP_POPULATE`) while the mapping is still read-only: populating a writable private
/// mapping would copy every page.
final class MappedRequest: @unchecked Sendable {
    // @unchecked Sendable: `base` and `count` never change, and the mapping stays until deinit,
    // when nothing can read it any more.
    private let base: UnsafeMutableRawPointer
    let count: Int

    /// Maps the memfd `descriptor` (the caller closes it); `nil` when it is empty, larger than
    /// `limit`, or cannot be mapped.
    init?(descriptor: Int32, limit: Int) {
        let size = Int(lseek(descriptor, 0, SEEK_END))
        guard size > 0 && size <= limit else { return nil }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, descriptor, 0), mapped != MAP_FAILED else {
            return nil
        }
        guard mprotect(mapped, size, PROT_READ | PROT_WRITE) == 0 else {
            munmap(mapped, size)
            return nil
        }
        base = mapped
        count = size
    }

    deinit { munmap(base, count) }

    /// The request's bytes, valid while this object lives.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}
