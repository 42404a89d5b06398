// SPDX-License-Identifier: Apache-2.0
import Foundation

@testable import Pebble

// Jobs for UnstableCodeTests: they misbehave on purpose, in worker processes.

/// Writes `text` to descriptor 2 (Swift 6 cannot use C's `stderr` global).
func writeStandardError(_ text: String) {
    var text = text
    _ = text.withUTF8 { write(2, $0.baseAddress, $0.count) }
}

/// Allocates `bytes` and touches every page; returns its pid if it survives.
struct AllocateAndTouch: ProcessJob {
    let bytes: Int
    func run() async throws -> Int32 {
        guard let memory = malloc(bytes) else {
            // RLIMIT_AS: the allocation failed; crash as a Swift allocation failure would.
            writeStandardError("allocation of \(bytes) bytes failed\n")
            abort()
        }
        memset(memory, 1, bytes)
        free(memory)
        return getpid()
    }
}

/// Allocates, touches and never frees `bytes` (a leak); returns `value`.
struct LeakMemory: ProcessJob {
    let bytes: Int
    let value: Int
    func run() async throws -> Int {
        if let memory = malloc(bytes) { memset(memory, 1, bytes) }
        return value
    }
}

/// Burns CPU for `seconds` of this thread's CPU time (forever for `nil`); returns its pid.
struct Spin: ProcessJob {
    let seconds: Double?
    func run() async throws -> Int32 {
        let start = cpuSeconds()
        var x = 0
        while seconds.map({ cpuSeconds() - start < $0 }) ?? true {
            for i in 0..<10_000 { x &+= i }
        }
        return getpid() + Int32(x & 0)
    }
    private func cpuSeconds() -> Double {
        var usage = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &usage)
        return Double(usage.tv_sec) + Double(usage.tv_nsec) / 1e9
    }
}

/// How a ``CrashWithMessage`` dies.
enum CrashKind: String, Codable, Sendable {
    /// fputs to stderr (as a C library would), then SIGSEGV.
    case cMessage
    /// `fatalError(marker)`.
    case fatalError
    /// An array index out of range.
    case indexOutOfRange
}

struct CrashWithMessage: ProcessJob {
    let kind: CrashKind
    let marker: String
    /// Bytes of noise written to stderr first (the diagnostics keep only the tail).
    var noise = 0
    func run() async throws -> Int {
        if noise > 0 {
            let line = [UInt8](repeating: UInt8(ascii: "n"), count: 1023) + [10]
            for _ in 0..<(noise / 1024) { _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) } }
        }
        switch kind {
        case .cMessage:
            // C stdio formatting straight to descriptor 2, as a C library's fprintf(stderr, ...).
            _ = marker.withCString { text in withVaList([text]) { vdprintf(2, "libfoo: %s\n", $0) } }
            raise(SIGSEGV)
            return 0
        case .fatalError:
            fatalError(marker)
        case .indexOutOfRange:
            let values = [1, 2, 3]
            return values[values.count + Int(getpid() & 0)]
        }
    }
}

/// Writes to stderr and returns normally: the next task's diagnostics must not show it.
struct WriteToStandardError: ProcessJob {
    let text: String
    func run() async throws -> Int32 {
        writeStandardError(text)
        return getpid()
    }
}

/// Writes `bytes` to stdout (fd 1) in 64 KiB writes; returns the count written.
struct FloodStandardOutput: ProcessJob {
    let bytes: Int
    func run() async throws -> Int {
        let chunk = [UInt8](repeating: UInt8(ascii: "o"), count: 64 * 1024)
        var written = 0
        while written < bytes {
            let got = chunk.withUnsafeBytes { write(1, $0.baseAddress, min($0.count, bytes - written)) }
            if got <= 0 { break }
            written += got
        }
        return written
    }
}

/// Where the worker's descriptors 1 and 2 point, as /proc/self/fd shows them.
struct OutputTargets: ProcessJob {
    let text: String
    func run() async throws -> [String] {
        print(text)
        writeStandardError(text + "\n")
        return [1, 2].map { fd in (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) ?? "?" }
    }
}

/// This worker's soft limits: RLIMIT_AS, RLIMIT_NOFILE, RLIMIT_FSIZE (-1: unlimited).
struct ReadLimits: ProcessJob {
    func run() async throws -> [Int] {
        [RLIMIT_AS, RLIMIT_NOFILE, RLIMIT_FSIZE].map { resource in
            var limit = rlimit()
            getrlimit(__rlimit_resource_t(resource.rawValue), &limit)
            return limit.rlim_cur == rlim_t.max ? -1 : Int(limit.rlim_cur)
        }
    }
}
