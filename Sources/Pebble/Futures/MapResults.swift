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
    @usableFromInline let chunks: [MapChunk<Value>]

    init(chunks: [MapChunk<Value>]) { self.chunks = chunks }

    /// Every value in input order, or the first failure.
    ///
    /// Each chunk's values are appended as one block, with no `Result` per input.
    ///
    /// ```swift
    /// let values: [Int] = try results.values()
    /// ```
    @available(*, noasync, message: "blocks the thread; iterate 'outcomes' in async code")
    public func values() throws -> [Value] {
        var all: [Value] = []
        all.reserveCapacity(chunks.reduce(0) { $0 + $1.count })
        for chunk in chunks {
            let outcomes = chunk.wait()
            if let error = outcomes.firstError { throw error }
            all.append(contentsOf: outcomes.values)
        }
        return all
    }

    /// Blocks for each next outcome as it is iterated.
    ///
    /// ```swift
    /// var iterator = try future.result().makeIterator()
    /// while let outcome = iterator.next() { print(outcome) }
    /// ```
    public struct Iterator: IteratorProtocol {
        @usableFromInline var remainingChunks: ArraySlice<MapChunk<Value>>
        @usableFromInline var current = MapChunkValues<Value>(count: 0, values: [], failures: [])
        @usableFromInline var cursor = MapChunkValues<Value>.Cursor()

        init(remainingChunks: ArraySlice<MapChunk<Value>>) { self.remainingChunks = remainingChunks }

        /// The next outcome in input order, waiting for its chunk; `nil` after the last input.
        ///
        /// Inlined into the caller, so iterating a chunk already received costs no generic call
        /// per input.
        ///
        /// ```swift
        /// let first = iterator.next()   // .success(value) or .failure(error)
        /// ```
        @inlinable
        public mutating func next() -> Result<Value, any Error>? {
            while true {
                if let outcome = cursor.next(in: current) { return outcome }
                guard waitForNextChunk() else { return nil }
            }
        }

        /// The next outcome in input order, waiting at most `timeout` for it; `nil` after the last
        /// input, like Pebble's `next(timeout=)`.
        ///
        /// When the timeout passes first this throws ``PebbleError`` `.waitTimedOut` and loses
        /// nothing: the next call returns the same outcome once it is ready. `nil` waits as long as
        /// it takes.
        ///
        /// ```swift
        /// var iterator = try future.result().makeIterator()
        /// while let outcome = try iterator.next(timeout: .seconds(5)) { print(outcome) }
        /// ```
        @available(*, noasync, message: "blocks the thread; iterate 'outcomes' in async code")
        public mutating func next(timeout: Duration?) throws -> Result<Value, any Error>? {
            try validateTimeout(timeout)
            let end = deadline(after: timeout)
            while true {
                if let outcome = cursor.next(in: current) { return outcome }
                guard let chunk = remainingChunks.first else { return nil }
                // The chunk leaves the queue only once its outcome is in: a timeout loses nothing.
                let outcome = try chunk.future.waitForOutcome(until: end, timeout: timeout)
                remainingChunks.removeFirst()
                current = MapChunkValues(outcome, count: chunk.count)
                cursor = MapChunkValues<Value>.Cursor()
            }
        }

        /// Moves on to the next chunk, waiting for it; `false` after the last one.
        @usableFromInline
        mutating func waitForNextChunk() -> Bool {
            guard let chunk = remainingChunks.popFirst() else { return false }
            current = chunk.wait()
            cursor = MapChunkValues<Value>.Cursor()
            return true
        }
    }

    /// An iterator over the outcomes, in input order.
    ///
    /// ```swift
    /// var iterator = results.makeIterator()
    /// ```
    public func makeIterator() -> Iterator { Iterator(remainingChunks: chunks[...]) }
}
