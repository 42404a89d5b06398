import _PebbleShim

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The worker's side of ``WorkerOutput``: points its descriptors 1 and 2 where the pool asked,
/// right after the hello and before the initializer.
enum WorkerOutputRedirection {
    /// `passed` are the descriptors that came with the hello: with `.capture`, the write ends of the
    /// stdout and stderr pipes the pool reads. They are moved onto 1 and 2 (`dup2` leaves those
    /// inheritable, so programs a job executes write there too) and closed. A capture whose pipes did
    /// not arrive falls back to `/dev/null`: the worker never writes into the pool's own output then.
    static func apply(_ output: WorkerOutput, passed: [Int32]) {
        defer { for fd in passed { close(fd) } }
        switch output.kind {
        case .inherit:
            return
        case .capture where passed.count == 2:
            pebble_flush_stdout()
            dup2(passed[0], STDOUT_FILENO)
            dup2(passed[1], STDERR_FILENO)
        case .capture, .discard:
            pebble_flush_stdout()
            let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
            guard null >= 0 else { return }
            dup2(null, STDOUT_FILENO)
            dup2(null, STDERR_FILENO)
            close(null)
        }
    }
}
