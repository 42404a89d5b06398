// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A job used only to warm the zygote up.
struct WarmUpJob: ProcessJob {
    let values: [Int]
    let text: String
    func run() async throws -> Int { values.count }
}
