import Dispatch

/// One chunk of a map: a future for the outcomes of `count` consecutive inputs.
struct MapChunk<Value: Sendable>: Sendable {
    let future: Future<[Result<Value, any Error>]>
    let count: Int

    /// The chunk's outcomes, one per input: a failed chunk (timeout, crash, cancel) fails each input.
    static func expand(_ outcome: Result<[Result<Value, any Error>], any Error>, count: Int) -> [Result<Value, any Error>] {
        switch outcome {
        case .success(let outcomes): outcomes
        case .failure(let error): Array(repeating: .failure(error), count: count)
        }
    }
}

/// The eventual outcomes of a `map` call: exactly one per input, in input order.
///
/// ```swift
/// let squares = try pool.map(1...5) { $0 * $0 }
/// for outcome in try squares.result() { print(try outcome.get()) }
/// ```
public final class MapFuture<Value: Sendable>: Sendable {
    let chunks: [MapChunk<Value>]
    /// Completes as soon as any chunk is done (at once for an empty map).
    let firstChunkDone = Future<Void>()

    init(chunks: [MapChunk<Value>]) {
        self.chunks = chunks
        if chunks.isEmpty { firstChunkDone.complete(.success(())) }
        for chunk in chunks {
            chunk.future.observe { [firstChunkDone] _ in firstChunkDone.complete(.success(())) }
        }
    }

    /// Blocks until the first outcome is ready and returns the outcomes, in input order.
    ///
    /// Iterating the returned ``MapResults`` blocks for each next outcome, so results stream as
    /// chunks finish. An empty map returns at once.
    ///
    /// ```swift
    /// let values = try future.result(timeout: .seconds(10)).values()
    /// ```
    @available(*, noasync, message: "blocks the thread; iterate 'outcomes' in async code")
    public func result(timeout: Duration? = nil) throws -> MapResults<Value> {
        try validateTimeout(timeout)
        _ = try firstChunkDone.waitForOutcome(until: deadline(after: timeout), timeout: timeout)
        return MapResults(chunks: chunks)
    }

    /// The outcomes as an asynchronous stream, in input order, one per input.
    ///
    /// ```swift
    /// for await outcome in future.outcomes { print(outcome) }
    /// ```
    public var outcomes: AsyncStream<Result<Value, any Error>> {
        let chunks = self.chunks
        return AsyncStream { continuation in
            let feeder = Task {
                for chunk in chunks {
                    for outcome in MapChunk.expand(await chunk.future.outcome, count: chunk.count) {
                        continuation.yield(outcome)
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in feeder.cancel() }
        }
    }

    /// Cancels every input not yet done; they yield `CancellationError`. Returns whether any was cancelled.
    ///
    /// ```swift
    /// future.cancel()
    /// ```
    @discardableResult
    public func cancel() -> Bool {
        chunks.map { $0.future.cancel() }.contains(true)
    }

    /// Whether every input has its outcome.
    ///
    /// ```swift
    /// if future.isDone { print(try future.result().values()) }
    /// ```
    public var isDone: Bool { chunks.allSatisfy { $0.future.isDone } }
}

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
