// SPDX-License-Identifier: Apache-2.0

/// The event loop's registrations by token: a slot index in the low 32 bits and the slot's
/// generation in the high 32. Removing a value bumps its slot's generation, so a token that
/// outlived its registration (a late event the kernel had already queued) finds nothing, even
/// once the slot holds a new registration. Never a pointer: a stale token cannot reach freed memory.
struct EventTokenTable<Value> {
    private var values: [Value?] = []
    private var generations: [UInt32] = []
    private var free: [UInt32] = []

    /// How many values the table holds.
    private(set) var count = 0

    /// Stores `value` in a free slot; its token.
    mutating func insert(_ value: Value) -> UInt64 {
        let index: UInt32
        if let reused = free.popLast() {
            index = reused
            values[Int(index)] = value
        } else {
            index = UInt32(values.count)
            values.append(value)
            generations.append(1)
        }
        count += 1
        return Self.token(index: index, generation: generations[Int(index)])
    }

    /// The value `token` names, or `nil` when it was removed (its slot may hold another value now).
    func value(for token: UInt64) -> Value? {
        let (index, generation) = Self.split(token)
        guard Int(index) < values.count, generations[Int(index)] == generation else { return nil }
        return values[Int(index)]
    }

    /// Removes the value `token` names; `nil` when it was removed already.
    @discardableResult
    mutating func remove(_ token: UInt64) -> Value? {
        let (index, generation) = Self.split(token)
        guard Int(index) < values.count, generations[Int(index)] == generation, let value = values[Int(index)] else {
            return nil
        }
        values[Int(index)] = nil
        // Generation 0 is never used, so no token is 0.
        generations[Int(index)] = generation == .max ? 1 : generation + 1
        free.append(index)
        count -= 1
        return value
    }

    static func token(index: UInt32, generation: UInt32) -> UInt64 { UInt64(generation) << 32 | UInt64(index) }

    static func split(_ token: UInt64) -> (index: UInt32, generation: UInt32) {
        (UInt32(truncatingIfNeeded: token), UInt32(truncatingIfNeeded: token >> 32))
    }
}
