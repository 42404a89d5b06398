import _PebbleShim

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A pool's task board (``TaskBoard``): a shared memfd, mapped here for the life of the pool, whose
/// descriptor every worker receives with its hello.
// @unchecked Sendable: the words are shared memory written by several processes; every access is one
// atomic operation of the shim (release stores, acquire loads, compare-and-swap); `words` never
// changes after init, and the descriptor is behind a lock.
final class ClaimBoard: TaskBoard, @unchecked Sendable {
    /// The memfd, passed with each hello; -1 once closed (the mapping stays until deinit).
    private let descriptor: StateLock<Int32>
    private let words: UnsafeMutablePointer<UInt64>

    /// How many slots a board has: the most tasks offered and running at once.
    static let slots = Int(PEBBLE_TASK_BOARD_SLOTS)
    /// Worker indexes go from 0 to this, exclusive.
    static let workerIndexes = Int(PEBBLE_TASK_BOARD_WORKERS)

    init() throws {
        let fd = pebble_create_task_board()
        guard fd >= 0 else { throw PebbleError(.spawnFailed, "could not create the task board: \(String(cString: strerror(errno)))") }
        guard let words = pebble_map_task_board(fd) else {
            closeFileDescriptor(fd)
            throw PebbleError(.spawnFailed, "could not map the task board: \(String(cString: strerror(errno)))")
        }
        self.words = words
        descriptor = StateLock(fd)
    }

    deinit {
        pebble_unmap_task_board(words)
        closeDescriptor()
    }

    /// Runs `body` with the memfd (-1 once closed), which stays open meanwhile.
    func withDescriptor<R>(_ body: (Int32) -> R) -> R {
        descriptor.withLock { body($0) }
    }

    /// Closes the memfd (the pool is joined: no worker starts any more).
    func closeDescriptor() {
        descriptor.withLock { fd in
            if fd >= 0 { closeFileDescriptor(fd) }
            fd = -1
        }
    }

    func offer(slot: Int, sequence: UInt64) {
        pebble_claim_offer(words, Int32(slot), sequence)
    }

    func revoke(slot: Int, sequence: UInt64) -> Bool {
        pebble_claim_revoke(words, Int32(slot), sequence)
    }

    func stop(slot: Int, sequence: UInt64, worker: Int) -> Bool {
        pebble_claim_stop(words, Int32(slot), sequence, Int32(worker))
    }

    func takenAt(slot: Int) -> UInt64 {
        pebble_claim_taken_at(words, Int32(slot))
    }

    func state(slot: Int, sequence: UInt64) -> ClaimState {
        let word = pebble_claim_read(words, Int32(slot), sequence)
        guard word >= 0 else { return .moved }
        let worker = Int(word >> 3)
        switch word & 7 {
        case Int32(PEBBLE_CLAIM_OFFERED): return .offered
        case Int32(PEBBLE_CLAIM_TAKEN): return .taken(worker: worker)
        case Int32(PEBBLE_CLAIM_DONE): return .done(worker: worker)
        case Int32(PEBBLE_CLAIM_STOPPING): return .stopping(worker: worker)
        default: return .revoked
        }
    }
}
