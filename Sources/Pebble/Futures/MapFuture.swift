// SPDX-License-Identifier: Apache-2.0
import Dispatch

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
                    await chunk.outcomes.forEachOutcome { continuation.yield($0) }
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
