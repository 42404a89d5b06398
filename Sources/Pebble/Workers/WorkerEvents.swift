// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a worker process reports to its pool. Called on the worker's serial queue.
protocol WorkerEvents: AnyObject, Sendable {
    /// A message that is not a task's outcome (ready, started, retiring…).
    func worker(_ worker: WorkerProcess, sent kind: MessageKind, body: ArraySlice<UInt8>)
    /// Task outcomes (``MessageKind/isReply``) that came in one read, in order.
    func worker(_ worker: WorkerProcess, answered replies: [(kind: MessageKind, body: ArraySlice<UInt8>)])
    func worker(_ worker: WorkerProcess, brokeProtocol error: PebbleError)
    /// The request of offering `sequence`, which the worker fetched and waits for, could not be
    /// sent (the pool is out of descriptors or memory); not called when the worker is gone.
    func worker(_ worker: WorkerProcess, couldNotSendRequestOf sequence: UInt64, error: PebbleError)
    /// `status` is the wait status, `nil` when it could not be known; `usage` what the worker
    /// used over its life (its rusage when reaped, ``UsageReport/deadWorkerLifetime(_:carriedPeakKiB:)``),
    /// `nil` when unknown.
    func worker(_ worker: WorkerProcess, exitedWith status: Int32?, usage: ResourceUsage?)
    /// After the exit: every descriptor of the worker is closed.
    func workerGone(_ worker: WorkerProcess)
}
