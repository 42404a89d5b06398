// SPDX-License-Identifier: Apache-2.0

/// The pool's view of its task board: one word per slot, shared by the pool and every worker
/// (``ClaimBoard``). The pool offers a task in a slot before putting it on the feed; the worker
/// that receives it takes it before running it, and marks it done before sending its outcome. The
/// pool revokes a task while it is only offered (a cancel, a deadline, a re-offer), and claims the
/// kill of a worker for a task while that worker still runs it. Exactly one of take and revoke
/// succeeds, and exactly one of done and stop: a revoked task never runs, and a worker is killed
/// only while it runs the task the kill is for.
///
/// ``ProcessPoolStateMachine`` calls it under the pool's lock; the unit tests give it a fake.
protocol TaskBoard: AnyObject, Sendable {
    /// Publishes offering `sequence` in `slot`, before its message is sent.
    func offer(slot: Int, sequence: UInt64)
    /// Takes back offering `sequence`; `false` when a worker took it.
    func revoke(slot: Int, sequence: UInt64) -> Bool
    /// Claims the kill of worker `worker` for offering `sequence`; `false` when it is done with it.
    func stop(slot: Int, sequence: UInt64, worker: Int) -> Bool
    /// Where offering `sequence` stands.
    func state(slot: Int, sequence: UInt64) -> ClaimState
    /// When the task in `slot` was taken, in ``monotonicNanoseconds()``, as its taker wrote it
    /// (read while the slot still holds that task; a value to bound, not to trust).
    func takenAt(slot: Int) -> UInt64
}

/// Where one offering of a task stands on the ``TaskBoard``.
enum ClaimState: Equatable {
    /// On the feed; no worker took it.
    case offered
    /// Worker `worker` took it and runs it.
    case taken(worker: Int)
    /// Worker `worker` ran it and is sending (or sent) its outcome.
    case done(worker: Int)
    /// The pool is killing worker `worker`, which was running it.
    case stopping(worker: Int)
    /// The pool took it back before any worker took it.
    case revoked
    /// The slot holds another offering now.
    case moved

    /// The worker that took it, if one did.
    var worker: Int? {
        switch self {
        case .taken(let worker), .done(let worker), .stopping(let worker): worker
        case .offered, .revoked, .moved: nil
        }
    }
}
