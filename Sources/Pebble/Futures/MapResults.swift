// SPDX-License-Identifier: Apache-2.0
import Dispatch

/// The outcomes of a map, one per input, in input order. Iterating blocks until each next outcome
/// is ready.
///
/// ```swift
/// for outcome in results {
///     switch outcome {
///     case .success(let value): print(value)
///     case .failure(let error): print("failed:", error)
///     }
/// }
/// ```
public struct MapResults<Value: Sendable>: Sequence, Sendable {
    let chunks: [MapChunk<Value>]

    /// Every value in input order, or the first failure.
    ///
    /// ```swift
    /// let values: [Int] = try results.values()
    /// ```
    @available(*, noasync, message: "blocks the thread; iterate 'outcomes' in async code")
    public func values() throws -> [Value] {
        try map { try $0.get() }
    }

    /// Blocks for each next outcome as it is iterated.
    ///
    /// ```swift
    /// var iterator = try future.result().makeIterator()
    /// while let outcome = iterator.next() { print(outcome) }
    /// ```
    public struct Iterator: IteratorProtocol {
        var remainingChunks: ArraySlice<MapChunk<Value>>
        var buffered: [Result<Value, any Error>] = []
        var index = 0

        /// The next outcome in input order, waiting for its chunk; `nil` after the last input.
        ///
        /// ```swift
        /// let first = iterator.next()   // .success(value) or .failure(error)
        /// ```
        public mutating func next() -> Result<Value, any Error>? {
            while index == buffered.count {
                guard let chunk = remainingChunks.popFirst() else { return nil }
                // A wait with no deadline cannot time out.
                let outcome = try! chunk.future.waitForOutcome(until: .distantFuture, timeout: nil)
                buffered = MapChunk.expand(outcome, count: chunk.count)
                index = 0
            }
            defer { index += 1 }
            return buffered[index]
        }
    }

    /// An iterator over the outcomes, in input order.
    ///
    /// ```swift
    /// var iterator = results.makeIterator()
    /// ```
    public func makeIterator() -> Iterator { Iterator(remainingChunks: chunks[...]) }
}
