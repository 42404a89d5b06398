// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ProcessExpired {
    /// The error for a worker that died with wait status `status` (`nil`: unknown).
    init(pid: pid_t, waitStatus status: Int32?, diagnostics: String? = nil) {
        guard let status else {
            self.init(pid: pid, exitCode: nil, signal: nil, diagnostics: diagnostics)
            return
        }
        let signal = status & 0x7F
        if signal == 0 {
            self.init(pid: pid, exitCode: (status >> 8) & 0xFF, signal: nil, diagnostics: diagnostics)
        } else {
            self.init(pid: pid, exitCode: nil, signal: signal, diagnostics: diagnostics)
        }
    }
}
