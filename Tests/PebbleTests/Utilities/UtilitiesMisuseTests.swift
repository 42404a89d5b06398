import Testing

@testable import Pebble
@testable import PebbleTestSupport

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Programming errors in the utilities trap; each runs in a child process (an exit test).
@Suite(.timeLimit(.minutes(1)))
struct UtilitiesMisuseTests {
    @Test func queueCapacityBelowOneTraps() async {
        await #expect(processExitsWith: .failure) { _ = BlockingQueue<Int>(capacity: 0) }
    }

    @Test func startingAThreadTwiceTraps() async {
        await #expect(processExitsWith: .failure) {
            let thread = JoinableThread {}
            thread.start()
            thread.start()
        }
    }

    @Test func unlockingAProcessLockThatIsNotHeldTraps() async {
        await #expect(processExitsWith: .failure) {
            let lock = try ProcessLock(name: "utilities-misuse-\(getpid())")
            unlink(lock.path)
            lock.unlock()
        }
    }

    @Test func handlingSIGKILLTraps() async {
        await #expect(processExitsWith: .failure) { sighandler([SIGKILL]) { _ in } }
    }
}
