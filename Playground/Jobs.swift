// SPDX-License-Identifier: Apache-2.0
// The process jobs of the tour.
//
// A worker process finds a job type by its mangled name, so every job, function and error type
// that crosses the process boundary is declared `internal` (or `public`) at file scope here:
// never `private`, `fileprivate` or inside a function.

import Foundation
import Pebble

/// Returns the pid of the worker that ran it.
struct WhoAmI: ProcessJob {
    func run() async throws -> Int32 { getpid() }
}

/// Squares a number in a worker process.
struct Square: ProcessJob {
    let n: Int
    func run() async throws -> Int { n * n }
}

/// Blocks its worker for `seconds`, like a call that hangs.
struct Sleep: ProcessJob {
    let seconds: Double
    func run() async throws -> Int32 {
        usleep(UInt32(seconds * 1_000_000)) // blocking is fine: the job has the worker's thread to itself
        return getpid()
    }
}

/// Ends its worker process with `exit(code)`, like a library that calls `exit` on bad input.
struct Exit: ProcessJob {
    let code: Int32
    func run() async throws -> Int32 { exit(code) }
}

/// Kills its own worker with a signal, like a crash in C code.
struct KillSelf: ProcessJob {
    let signal: Int32
    func run() async throws -> Int32 {
        kill(getpid(), signal)
        usleep(10_000_000) // never reached: the signal ends the process first
        return getpid()
    }
}

/// A `Codable` error: it comes back to the parent as itself, with its fields.
struct ValidationError: Error, Codable, CustomStringConvertible {
    let field: String
    let reason: String
    var description: String { "ValidationError(field: \(field), reason: \(reason))" }
}

/// An error that is not `Codable`: it comes back as a `RemoteError` with its type name and description.
struct DiskFull: Error {
    let path: String
}

/// Validates a user name; throws a `Codable` error for an empty one.
struct ValidateUser: ProcessJob {
    let name: String
    func run() async throws -> String {
        guard !name.isEmpty else { throw ValidationError(field: "name", reason: "must not be empty") }
        return name.lowercased()
    }
}

/// Always throws an error that is not `Codable`.
struct WriteReport: ProcessJob {
    func run() async throws -> Int { throw DiskFull(path: "/var/reports") }
}

/// A function for `ProcessPool.map`: parses a TCP port number, once per input.
struct ParsePort: ProcessFunction {
    func callAsFunction(_ text: String) async throws -> Int {
        guard let port = Int(text), (1...65_535).contains(port) else {
            throw ValidationError(field: "port", reason: "'\(text)' is not a port number")
        }
        return port
    }
}
