// SPDX-License-Identifier: Apache-2.0
import Dispatch
import Synchronization
import Testing

@testable import Pebble
@testable import PebbleTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// ProcessLock between threads, between open files and between processes.
@Suite(.timeLimit(.minutes(1)))
struct ProcessLockTests {
    private static let flockTool = "/usr/bin/flock"

    /// A name no other test run uses.
    private static func uniqueName() -> String {
        "utilities-test-\(getpid())-\(UInt64.random(in: 0 ... .max))"
    }

    /// A lock with a unique name; its file is removed by `removeFile`.
    private static func uniqueLock() throws -> ProcessLock {
        try ProcessLock(name: uniqueName())
    }

    private static func removeFile(of lock: ProcessLock) {
        unlink(lock.path)
    }

    @Test func rejectsEmptyNamesAndNamesWithASlash() {
        for name in ["", "a/b", "/"] {
            let error = #expect(throws: PebbleError.self) { try ProcessLock(name: name) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("'name'") == true)
        }
        let long = #expect(throws: PebbleError.self) { try ProcessLock(name: String(repeating: "x", count: 300)) }
        #expect(long?.code == .invalidArgument)
    }

    @Test func lockFileLivesInTheTemporaryDirectoryWithAnEncodedName() throws {
        let lock = try ProcessLock(name: "utilities test é.\(getpid())")
        defer { Self.removeFile(of: lock) }
        let directory = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        #expect(lock.path.hasPrefix(directory.hasSuffix("/") ? directory : directory + "/"))
        #expect(lock.path.hasSuffix("/pebble-utilities%20test%20%C3%A9.\(getpid()).lock"))
        #expect(access(lock.path, F_OK) == 0)
    }

    @Test func excludesOtherThreadsUsingTheSameInstance() throws {
        let lock = try Self.uniqueLock()
        defer { Self.removeFile(of: lock) }
        lock.lock()
        #expect(!UtilityTestSupport.onNewThread { lock.tryLock() })
        lock.unlock()
        #expect(UtilityTestSupport.onNewThread { lock.tryLock() })
        lock.unlock()
    }

    @Test func excludesOtherInstancesWithTheSameName() throws {
        let name = Self.uniqueName()
        let first = try ProcessLock(name: name)
        defer { Self.removeFile(of: first) }
        let second = try ProcessLock(name: name)
        #expect(second.path == first.path)
        first.lock()
        #expect(!second.tryLock())
        first.unlock()
        #expect(second.tryLock())
        #expect(!first.tryLock())
        second.unlock()
    }

    @Test func threadsTakeTurns() throws {
        let lock = try Self.uniqueLock()
        defer { Self.removeFile(of: lock) }
        let inside = Atomic(0)
        let overlaps = Atomic(0)
        let workers = (0..<4).map { _ in
            UtilityTestSupport.startThread {
                for _ in 0..<200 {
                    synchronized(lock) {
                        if inside.add(1, ordering: .sequentiallyConsistent).newValue != 1 {
                            overlaps.add(1, ordering: .relaxed)
                        }
                        inside.subtract(1, ordering: .sequentiallyConsistent)
                    }
                }
            }
        }
        workers.forEach { #expect(UtilityTestSupport.waitForEvent($0)) }
        #expect(overlaps.load(ordering: .relaxed) == 0)
    }

    @Test func lockWaitsForTheHolderAndMayBeReleasedByAnotherThread() throws {
        let lock = try Self.uniqueLock()
        defer { Self.removeFile(of: lock) }
        lock.lock()
        let acquired = UtilityTestSupport.startThread { lock.lock() }
        #expect(acquired.wait(timeout: .now() + .milliseconds(100)) == .timedOut)
        lock.unlock()
        #expect(UtilityTestSupport.waitForEvent(acquired))
        UtilityTestSupport.onNewThread { lock.unlock() }
        #expect(lock.tryLock())
        lock.unlock()
    }

    @Test func anotherOpenFileCannotTakeTheLockWhileItIsHeld() throws {
        let lock = try Self.uniqueLock()
        defer { Self.removeFile(of: lock) }
        let descriptor = open(lock.path, O_RDONLY | O_CLOEXEC)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        lock.lock()
        #expect(flock(descriptor, LOCK_EX | LOCK_NB) != 0)
        #expect(errno == EWOULDBLOCK)
        lock.unlock()
        #expect(flock(descriptor, LOCK_EX | LOCK_NB) == 0)
        #expect(!lock.tryLock())
        flock(descriptor, LOCK_UN)
        #expect(lock.tryLock())
        lock.unlock()
    }

    @Test(.enabled(if: access(flockTool, X_OK) == 0, "needs flock(1) from util-linux"))
    func anotherProcessCannotTakeTheLockWhileItIsHeld() throws {
        let lock = try Self.uniqueLock()
        defer { Self.removeFile(of: lock) }
        lock.lock()
        #expect(try UtilityTestChildProcess.run([Self.flockTool, "--nonblock", lock.path, "/bin/true"]) == 1)
        lock.unlock()
        #expect(try UtilityTestChildProcess.run([Self.flockTool, "--nonblock", lock.path, "/bin/true"]) == 0)
    }

    @Test(.enabled(if: access(flockTool, X_OK) == 0, "needs flock(1) from util-linux"))
    func theKernelReleasesTheLockOfAKilledProcess() throws {
        let lock = try Self.uniqueLock()
        defer { Self.removeFile(of: lock) }
        // The shell opens the file as descriptor 9, flock(1) locks it, and the shell, which now
        // holds the lock, reports it and then waits on its standard input until it is killed.
        let script = "exec 9<\"$1\" && \(Self.flockTool) --exclusive 9 && echo held && read _"
        let child = try UtilityTestChildProcess(["/bin/sh", "-c", script, "sh", lock.path])
        #expect(child.readLine() == "held")
        #expect(!lock.tryLock())
        child.kill()
        lock.lock()
        lock.unlock()
    }
}
