// SPDX-License-Identifier: Apache-2.0
import Foundation
import Pebble

struct AddOneJob: ProcessJob {
    let x: Int
    func run() async throws -> Int { x + 1 }
}

struct AddOneFunction: ProcessFunction {
    func callAsFunction(_ input: Int) async throws -> Int { input + 1 }
}

struct PidJob: ProcessJob {
    func run() async throws -> Int32 { getpid() }
}

struct SleepJob: ProcessJob {
    let seconds: Double
    func run() async throws -> Int {
        usleep(UInt32(seconds * 1_000_000))
        return 0
    }
}

struct ExitJob: ProcessJob {
    func run() async throws -> Int { exit(1) }
}

struct EchoData: ProcessJob {
    let data: Data
    func run() async throws -> Data { data }
}
