// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import Pebble
@testable import PebbleTestSupport

/// An initializer that calls `exit(5)` once `path` exists.
struct ExitOnceFileExists: ProcessJob {
    let path: String
    func run() async throws -> Bool {
        if access(path, F_OK) == 0 { exit(5) }
        return true
    }
}

/// An initializer that starts crashing after the pool was ready must break the pool, not respawn
/// workers forever with every pending future hanging.
@Suite(.timeLimit(.minutes(2)))
struct CrashingInitializerTests {
    @Test(arguments: [ProcessPool.StartMethod.zygote, .spawn])
    func anInitializerThatStartsCrashingFailsPendingFutures(startMethod: ProcessPool.StartMethod) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pebble-init-\(UUID().uuidString)").path
        defer { unlink(path) }
        var configuration = ProcessPool.Configuration(maxWorkers: 1)
        configuration.maxTasks = 1 // every task needs a new worker, so a new initializer run
        configuration.initializer = ExitOnceFileExists(path: path)
        configuration.startMethod = startMethod
        let pool = try ProcessPool(configuration: configuration)
        #expect(try pool.schedule(AddOne(x: 1)).result(timeout: .seconds(30)) == 2)
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let pending = try (0..<3).map { try pool.schedule(AddOne(x: $0)) }
        // A replacement worker may have run the initializer before the file appeared: its one task
        // succeeds. Every other future fails with .initializerFailed, and none hangs.
        var failures = 0
        for future in pending {
            let error = try future.error(timeout: .seconds(30))
            if error != nil {
                #expect(pebbleCode(error) == .initializerFailed, "\(String(describing: error))")
                failures += 1
            }
        }
        #expect(failures >= 2)
        #expect(pebbleCode(errorOf { try pool.schedule(AddOne(x: 9)) }) == .initializerFailed)
        pool.stop()
        try pool.join()
    }
}
