// SPDX-License-Identifier: Apache-2.0
import Dispatch
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A worker process just started: its pid, the parent's end of its channel, and a pidfd that
/// becomes readable when it exits.
struct SpawnedWorker: Sendable {
    /// Whose child the worker is: ours (posix_spawn) or the zygote's (fork).
    enum Origin: Sendable { case child, zygote }

    let pid: pid_t
    let channel: Int32
    let pidfd: Int32
    let origin: Origin
}
