// SPDX-License-Identifier: Apache-2.0
import Foundation
import Synchronization

@testable import Pebble

// Jobs the process-pool tests run in worker processes. They are internal and at namespace scope,
// as job types must be.

struct AddOne: ProcessJob {
    let x: Int
    func run() async throws -> Int { x + 1 }
}

struct WorkerPid: ProcessJob {
    func run() async throws -> Int32 { getpid() }
}

/// Sleeps, then returns its pid.
struct SleepJob: ProcessJob {
    let seconds: Double
    var ignoreSIGTERM = false
    func run() async throws -> Int32 {
        if ignoreSIGTERM { signal(SIGTERM, SIG_IGN) }
        usleep(UInt32(seconds * 1_000_000))
        return getpid()
    }
}

struct ExitJob: ProcessJob {
    let status: Int32
    func run() async throws -> Int { exit(status) }
}

struct KillSelfJob: ProcessJob {
    func run() async throws -> Int {
        kill(getpid(), SIGKILL)
        return 0
    }
}

struct CodableFailure: Error, Codable, Equatable {
    let code: Int
    let detail: String
}

struct ThrowCodable: ProcessJob {
    func run() async throws -> Int { throw CodableFailure(code: 7, detail: "BOOM!") }
}

struct OpaqueFailure: Error, CustomStringConvertible {
    var description: String { "opaque failure" }
}

struct ThrowOpaque: ProcessJob {
    func run() async throws -> Int { throw OpaqueFailure() }
}

struct ReturnError: ProcessJob {
    func run() async throws -> CodableFailure { CodableFailure(code: 1, detail: "returned") }
}

/// A job whose arguments cannot be encoded.
struct Unencodable: ProcessJob {
    init() {}
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws {
        throw EncodingError.invalidValue(0, .init(codingPath: [], debugDescription: "cannot encode a lock"))
    }
    func run() async throws -> Int { 0 }
}

struct UnencodableOutput: Encodable, Decodable, Sendable {
    init() {}
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws {
        throw EncodingError.invalidValue(0, .init(codingPath: [], debugDescription: "cannot encode a lock"))
    }
}

struct ReturnUnencodable: ProcessJob {
    func run() async throws -> UnencodableOutput { UnencodableOutput() }
}

struct Echo: ProcessJob {
    let text: String
    func run() async throws -> String { text }
}

struct EchoData: ProcessJob {
    let data: Data
    func run() async throws -> Data { data }
}

/// Starts a child process (`/bin/sh -c 'exit 3'`) and returns its exit status.
struct RunChildProcess: ProcessJob {
    func run() async throws -> Int32 {
        var pid: pid_t = 0
        let status = withCArguments(["/bin/sh", "-c", "exit 3"]) { posix_spawn(&pid, "/bin/sh", nil, nil, $0, nil) }
        guard status == 0 else { return -1 }
        var wait: Int32 = 0
        waitpid(pid, &wait, 0)
        return (wait >> 8) & 0xFF
    }
}

/// Starts a long-running grandchild (`sleep 60`) in the worker's process group, writes its pid to
/// `pidFile`, then sleeps.
struct SpawnGrandchildAndHang: ProcessJob {
    let pidFile: String
    /// Start it with Foundation's `Process`, which puts it in a process group of its own.
    var withFoundationProcess = false
    func run() async throws -> Int {
        var pid: pid_t = 0
        if withFoundationProcess {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sleep")
            process.arguments = ["60"]
            try process.run()
            pid = process.processIdentifier
        } else {
            _ = withCArguments(["/bin/sleep", "60"]) { posix_spawn(&pid, "/bin/sleep", nil, nil, $0, nil) }
        }
        try "\(pid)".write(toFile: pidFile, atomically: true, encoding: .utf8)
        usleep(60_000_000)
        return 0
    }
}

/// Runs a job in a process pool of its own, inside the worker: nested pools work.
struct NestedPoolJob: ProcessJob {
    func run() async throws -> Int {
        try await withProcessPool(configuration: .init(maxWorkers: 1)) { pool in
            try await pool.run(AddOne(x: 41))
        }
    }
}

/// Uses the main actor inside a worker: the worker services its main queue.
struct MainActorJob: ProcessJob {
    func run() async throws -> Bool {
        await MainActor.run { Thread.isMainThread }
    }
}

/// Sets per-worker state for the tests of `initializer`.
struct SetWorkerValue: ProcessJob {
    let value: Int
    func run() async throws -> Int {
        WorkerState.value.withLock { $0 = value }
        return value
    }
}

struct ReadWorkerValue: ProcessJob {
    func run() async throws -> Int { WorkerState.value.withLock { $0 } }
}

struct FailingInitializer: ProcessJob {
    func run() async throws -> Int { throw CodableFailure(code: 2, detail: "init") }
}

struct CrashingInitializer: ProcessJob {
    func run() async throws -> Int { exit(9) }
}

enum WorkerState {
    static let value = StateLock(0)
}

/// Adds one, or throws for negative inputs.
struct AddOneFunction: ProcessFunction {
    func callAsFunction(_ input: Int) async throws -> Int {
        if input < 0 { throw CodableFailure(code: input, detail: "negative") }
        return input + 1
    }
}

/// Sleeps `input` seconds, returns the input.
struct SleepFunction: ProcessFunction {
    func callAsFunction(_ input: Double) async throws -> Double {
        usleep(UInt32(input * 1_000_000))
        return input
    }
}

/// Writes garbage to the worker's channel (fd 3), then waits to be stopped.
struct GarbageWriter: ProcessJob {
    let announceHugeFrame: Bool
    func run() async throws -> Int {
        var bytes: [UInt8]
        if announceHugeFrame {
            bytes = []
            withUnsafeBytes(of: UInt64(100_000_000_000).littleEndian) { bytes.append(contentsOf: $0) }
            bytes.append(0x56)
        } else {
            bytes = [0x05, 0, 0, 0, 0, 0, 0, 0, 0x99, 1, 2, 3, 4]
        }
        _ = write(3, bytes, bytes.count)
        usleep(30_000_000)
        return 0
    }
}

func withCArguments<R>(_ arguments: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let pointers = arguments.map { strdup($0) } + [nil]
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Whether process `pid` exists (and is not a zombie).
func processIsAlive(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    guard let close = stat.lastIndex(of: ")") else { return false }
    // Z: a zombie; X: being reaped (still listed for an instant).
    let state = stat[stat.index(close, offsetBy: 2)...]
    return !state.hasPrefix("Z") && !state.hasPrefix("X")
}

/// Adds one after sleeping.
struct AddOneAfter: ProcessJob {
    let x: Int
    let seconds: Double
    func run() async throws -> Int {
        usleep(UInt32(seconds * 1_000_000))
        return x + 1
    }
}

/// Writes a byte to `readyFifo` (a ``ReadyFifo``) as it starts, then sleeps: the test knows the
/// worker took the job, without sleeping itself. Returns the worker's pid.
struct SignalThenSleep: ProcessJob {
    let readyFifo: String
    let seconds: Double
    func run() async throws -> Int32 {
        ReadyFifo.send(UInt8(1), to: readyFifo)
        usleep(UInt32(seconds * 1_000_000))
        return getpid()
    }
}

/// Writes `index` (4 bytes, one atomic pipe write) to `readyFifo` as it starts, then sleeps:
/// the test learns which job a worker took. Returns `index + 1`.
struct SignalIndexThenSleep: ProcessJob {
    let readyFifo: String
    let index: Int
    let seconds: Double
    func run() async throws -> Int {
        ReadyFifo.send(Int32(index), to: readyFifo)
        usleep(UInt32(seconds * 1_000_000))
        return index + 1
    }
}

/// Blocks until the test writes a byte to `gate` (a ``ReadyFifo``), then returns the worker's pid,
/// or, with `crash`, kills its worker with SIGKILL.
struct GateJob: ProcessJob {
    let gate: String
    var crash = false
    func run() async throws -> Int32 {
        ReadyFifo.awaitByte(at: gate)
        if crash { kill(getpid(), SIGKILL) }
        return getpid()
    }
}

/// Writes `index` (4 bytes, one atomic pipe write) to `readyFifo` (a ``ReadyFifo``) as it starts,
/// then blocks until the test writes a byte to `gate`. Returns `index`.
struct SignalThenGate: ProcessJob {
    let readyFifo: String
    let gate: String
    var index = 0
    func run() async throws -> Int {
        ReadyFifo.send(Int32(index), to: readyFifo)
        ReadyFifo.awaitByte(at: gate)
        return index
    }
}
