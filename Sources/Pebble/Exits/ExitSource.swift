// SPDX-License-Identifier: Apache-2.0
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import _PebbleShim

/// The read source on a pidfd. DispatchSource protocols are not Sendable in corelibs-dispatch, but
/// a source may be cancelled from any thread, which is all that is done with it after `resume`.
struct ExitSource: @unchecked Sendable {
    let source: any DispatchSourceRead
}
