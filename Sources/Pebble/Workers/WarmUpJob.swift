// SPDX-License-Identifier: Apache-2.0
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import _PebbleShim
import Synchronization

/// A job used only to warm the zygote up.
struct WarmUpJob: ProcessJob {
    let values: [Int]
    let text: String
    func run() async throws -> Int { values.count }
}
