// SPDX-License-Identifier: Apache-2.0
import Synchronization
import _PebbleShim

/// The memory a command's reaper runs on (its stacks and its copy of the command's spec, see
/// `command_reaper.c`): it shares this process's memory, so the mapping may be released only once
/// the reaper has exited — ``release()`` is called from the reaper's exit handler, once.
final class ReaperMemory: Sendable {
    /// The mapping's address; taken (set to 0) by the one ``release()`` that unmaps it.
    private let address: Atomic<UInt>

    init(_ memory: UnsafeMutableRawPointer) {
        address = Atomic(UInt(bitPattern: memory))
    }

    /// Unmaps the reaper's memory. Call only once the reaper has exited; later calls do nothing.
    func release() {
        let taken = address.exchange(0, ordering: .acquiringAndReleasing)
        pebble_command_release(UnsafeMutableRawPointer(bitPattern: taken))
    }
}
