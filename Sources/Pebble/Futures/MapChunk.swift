// SPDX-License-Identifier: Apache-2.0
import Dispatch

/// One chunk of a map: a future for the outcomes of `count` consecutive inputs.
@usableFromInline
struct MapChunk<Value: Sendable>: Sendable {
    let future: Future<MapChunkValues<Value>>
    @usableFromInline let count: Int

    init(future: Future<MapChunkValues<Value>>, count: Int) {
        self.future = future
        self.count = count
    }

    /// Blocks until the chunk is done and returns its outcomes: a failed chunk (timeout, crash,
    /// cancel) fails each input.
    @usableFromInline
    func wait() -> MapChunkValues<Value> {
        // A wait with no deadline cannot time out.
        MapChunkValues(try! future.waitForOutcome(until: .distantFuture, timeout: nil), count: count)
    }

    /// The chunk's outcomes, once it is done.
    var outcomes: MapChunkValues<Value> {
        get async { MapChunkValues(await future.outcome, count: count) }
    }
}
