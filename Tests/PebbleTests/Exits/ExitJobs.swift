// SPDX-License-Identifier: Apache-2.0
import Foundation
import _PebbleTestShim

@testable import Pebble
@testable import PebbleTestSupport

/// Issue 9.8, run inside a worker so the test process keeps its SIGCHLD disposition: with SIGCHLD
/// ignored, a `.spawn` worker that exits with 3 is reported with exit code 3 (or unknown), never 0.
struct IgnoredSIGCHLDExitCodeJob: ProcessJob {
    func run() async throws -> Int32 {
        signal(SIGCHLD, SIG_IGN)
        var configuration = ProcessPool.Configuration(maxWorkers: 1)
        configuration.startMethod = .spawn
        let pool = try ProcessPool(configuration: configuration)
        let code: Int32
        do {
            _ = try await pool.run(ExitJob(status: 3))
            code = -1
        } catch let expired as ProcessExpired {
            code = expired.exitCode ?? -2
        }
        await pool.stop()
        return code
    }
}

/// Issue 9.4, run inside a worker made a child subreaper (never the test runner): when the zygote
/// dies, its workers are reparented to this process, which must reap them. Returns the pids of
/// zombie children left once the nested pool is joined (empty when fixed).
struct SubreaperZygoteOrphanJob: ProcessJob {
    func run() async throws -> [Int32] {
        guard pebble_set_child_subreaper(1) == 0 else { return [-3] }
        let pool = try ProcessPool(maxWorkers: 1)
        let worker = try await pool.run(WorkerPid())
        guard let zygote = Zygote.shared.pid else { return [-1] }
        kill(zygote, SIGKILL)
        try stopAndJoin(pool)
        var zombies: [Int32] = []
        for pid in [worker] {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            if let state = stat.split(separator: ")").last?.split(separator: " ").first, state == "Z" { zombies.append(pid) }
        }
        return zombies
    }
}

private func stopAndJoin(_ pool: ProcessPool) throws {
    pool.stop()
    try pool.join()
}
