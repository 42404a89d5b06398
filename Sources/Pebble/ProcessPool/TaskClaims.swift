// SPDX-License-Identifier: Apache-2.0

/// The pool's view of a worker's claim board: one word per slot of the worker's window of tasks,
/// shared with the worker. The pool offers a task in a slot before sending it; the worker takes it
/// before running it; the pool revokes it (a cancel, a deadline, a steal by an idle worker) while
/// it is only offered. Exactly one of take and revoke succeeds, so a revoked task never runs and a
/// taken one is known to have started.
///
/// ``ProcessPoolStateMachine`` calls it under the pool's lock; the unit tests give it a fake.
protocol TaskClaims: AnyObject, Sendable {
    /// How many slots the board has: the most tasks the worker can hold at once.
    var slots: Int { get }
    /// Publishes task `sequence` as offered in `slot`, before its message is sent.
    func offer(slot: Int, sequence: UInt64)
    /// Takes back task `sequence` from `slot`; `false` when the worker already took it.
    func revoke(slot: Int, sequence: UInt64) -> Bool
    /// Whether the worker took (started) task `sequence` in `slot`.
    func isTaken(slot: Int, sequence: UInt64) -> Bool
}
