// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A job on its way to a worker, type-erased for the pool: the encoded request, and how to
/// complete its future from the reply.
protocol AnyProcessTask: AnyObject, Sendable {
    var request: ScatteredBytes { get }
    var timeout: Duration? { get }
    /// When it was scheduled, in ``monotonicNanoseconds()``: where its wait time starts.
    var scheduledAt: UInt64 { get }
    /// Hands the task to the feed as offering `sequence` in `slot` of `board` (pending → running,
    /// with `isRunning` true once a worker took that offering); `false` when it was cancelled or
    /// failed while pending and must not be offered. Exactly one of this and a cancel wins.
    func offer(slot: Int, sequence: UInt64, on board: any TaskBoard) -> Bool
    /// Back to pending after its offering was revoked untaken; `false` if it was done meanwhile.
    func requeue() -> Bool
    var isDone: Bool { get }
    /// Completes the future from a reply frame, with what the task used (`recordsResourceUsage`).
    func resolve(_ kind: MessageKind, _ body: ArraySlice<UInt8>, usage: ResourceUsage?)
    func fail(_ error: any Error)
    /// Records `error` as the outcome without notifying anyone yet (callable under the pool's
    /// lock); returns what notifies the observers, or `nil` when the future was already done.
    func settle(_ error: any Error) -> (@Sendable () -> Void)?
}
