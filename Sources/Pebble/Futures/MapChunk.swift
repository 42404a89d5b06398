// SPDX-License-Identifier: Apache-2.0
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
