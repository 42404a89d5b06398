// SPDX-License-Identifier: Apache-2.0
/// The job a map chunk runs: the function applied to each input.
struct MapChunkJob<Function: ProcessFunction>: ProcessJob {
    let function: Function
    let inputs: [Function.Input]

    /// One witness call for the whole chunk: `_mapChunk` is specialised in the module that
    /// declares the function, so the per-input loop pays no generic call (see ``ProcessFunction``).
    func run() async throws -> MapChunkOutput<Function.Output> {
        let (values, failures) = await function._mapChunk(inputs)
        return MapChunkOutput(
            values: values,
            failures: failures.map { .init(index: $0.index, error: EncodedError($0.error)) })
    }
}

/// The outcomes of a map chunk as they travel back: the values of the inputs that succeeded, in
/// order, and the errors of those that failed with their index. Values stay a plain array, so an
/// array of numbers travels as one block.
struct MapChunkOutput<Value: Codable & Sendable>: Codable, Sendable {
    struct Failure: Codable, Sendable {
        let index: Int
        let error: EncodedError
    }

    var values: [Value] = []
    var failures: [Failure] = []

    /// The outcomes as the parent keeps them; `nil` when they do not add up to `count` inputs.
    func chunkValues(count: Int) -> MapChunkValues<Value>? {
        guard values.count + failures.count == count else { return nil }
        var previous = -1
        for failure in failures {
            guard failure.index > previous, failure.index < count else { return nil }
            previous = failure.index
        }
        return MapChunkValues(
            count: count, values: values,
            failures: failures.map { (index: $0.index, error: $0.error.rebuilt) })
    }
}
