// SPDX-License-Identifier: Apache-2.0
import Dispatch

/// The queues Pebble runs its own work and its users' callbacks on: never `DispatchQueue.global()`,
/// whose few threads on Linux (2 on 2 cores, growing by about one a second) are also Swift's
/// cooperative pool, so that one blocked work item there delays every `Task` of the program.
enum PebbleQueues {
    /// The library's own timers (the callback runner's stall checks); their handlers are quick.
    static let timers = DispatchQueue(label: "pebble.timers")

    /// Runs a user callback on a ``CallbackRunner`` thread: one that blocks delays no other.
    static func runCallback(_ callback: @escaping @Sendable () -> Void) {
        CallbackRunner.shared.run(callback)
    }
}
