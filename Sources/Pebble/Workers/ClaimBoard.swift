// SPDX-License-Identifier: Apache-2.0
import _PebbleShim

/// A worker's claim board as the pool sees it: the shared page behind the memfd the worker got at
/// spawn (`pebble_create_claim_board`), mapped here until the worker's handle goes away. Without a
/// page (the memfd could not be made or mapped) the worker holds one task at a time, which it
/// counts as started as soon as it is sent.
// @unchecked Sendable: the page is shared memory written by two processes; every access is one
// atomic operation of the shim (release stores, acquire loads, compare-and-swap).
final class ClaimBoard: TaskClaims, @unchecked Sendable {
    private let words: UnsafeMutablePointer<UInt64>?

    /// Maps the board behind `fd` and closes `fd`.
    init(fd: Int32) {
        words = pebble_map_claim_board(fd)
    }

    deinit { pebble_unmap_claim_board(words) }

    var slots: Int { words == nil ? 1 : Int(PEBBLE_CLAIM_BOARD_SLOTS) }

    func offer(slot: Int, sequence: UInt64) {
        pebble_claim_offer(words, Int32(slot), sequence)
    }

    func revoke(slot: Int, sequence: UInt64) -> Bool {
        pebble_claim_revoke(words, Int32(slot), sequence)
    }

    func isTaken(slot: Int, sequence: UInt64) -> Bool {
        pebble_claim_state(words, Int32(slot), sequence) == Int32(PEBBLE_CLAIM_TAKEN)
    }
}
