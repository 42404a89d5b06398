// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Foundation
import Pebble
import _PebbleTestShim

/// X3: `/bin/true` run to its exit, ms: ``Command`` (blocking and async), Foundation's `Process`
/// (run + `waitUntilExit`, run + `terminationHandler`) and the floor, a C `posix_spawn` + `waitpid`,
/// interleaved in one run so that each sees the same load.
func commandLatency() throws -> [Measurement] {
    let rounds = scaled(200, quick: 20)
    var floor: [Double] = [], blocking: [Double] = [], async: [Double] = []
    var waiting: [Double] = [], handler: [Double] = []
    let command = Command("/bin/true")
    for _ in 0..<10 {
        _ = try command.run()
        _ = pebble_spawn_and_wait("/bin/true")
    }
    for round in 0..<rounds {
        floor.append(time { _ = pebble_spawn_and_wait("/bin/true") } * 1e3)
        blocking.append(try time { _ = try command.run() } * 1e3)
        async.append(
            time {
                let done = DispatchSemaphore(value: 0)
                Task {
                    _ = try? await command.run()
                    done.signal()
                }
                done.wait()
            } * 1e3)
        handler.append(
            try time {
                let done = DispatchSemaphore(value: 0)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/bin/true")
                process.terminationHandler = { _ in done.signal() }
                try process.run()
                done.wait()
            } * 1e3)
        // waitUntilExit polls a run loop (~50 ms a call here): fewer rounds.
        if round % 10 == 0 {
            waiting.append(
                try time {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: "/bin/true")
                    try process.run()
                    process.waitUntilExit()
                } * 1e3)
        }
    }
    return [
        Measurement(metric: "X3", impl: "posix_spawn+waitpid", workers: 1, unit: "ms", samples: floor),
        Measurement(metric: "X3", impl: pebble + " run (blocking)", workers: 1, unit: "ms", samples: blocking),
        Measurement(metric: "X3", impl: pebble + " run (async)", workers: 1, unit: "ms", samples: async),
        Measurement(metric: "X3", impl: "Process+terminationHandler", workers: 1, unit: "ms", samples: handler),
        Measurement(metric: "X3", impl: "Process+waitUntilExit", workers: 1, unit: "ms", samples: waiting)
    ]
}
