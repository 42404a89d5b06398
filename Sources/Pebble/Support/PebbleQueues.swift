// SPDX-License-Identifier: Apache-2.0
import Dispatch

/// The queues Pebble runs its own work and its users' callbacks on: never `DispatchQueue.global()`,
/// whose few threads on Linux (2 on 2 cores, growing by about one a second) are also Swift's
/// cooperative pool, so that one blocked work item there delays every `Task` of the program.
enum PebbleQueues {
    /// The library's timers (ThreadPool timeouts): their handlers only complete futures.
    static let timers = DispatchQueue(label: "pebble.timers")

    /// Runs a user callback on a serial queue of its own. Queues a program creates are overcommit
    /// in libdispatch: each gets a thread when it needs one, so a callback that blocks holds only
    /// its own thread and delays no other callback, timer or task (up to libdispatch's limit of
    /// about 255 such threads at once; past it, further callbacks wait for one to return).
    static func runCallback(_ callback: @escaping @Sendable () -> Void) {
        DispatchQueue(label: "pebble.callback").async(execute: callback)
    }
}
