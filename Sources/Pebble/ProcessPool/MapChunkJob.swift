// SPDX-License-Identifier: Apache-2.0
/// The job a map chunk runs: the function applied to each input.
struct MapChunkJob<Function: ProcessFunction>: ProcessJob {
    let function: Function
    let inputs: [Function.Input]

    func run() async throws -> MapChunkOutput<Function.Output> {
        var output = MapChunkOutput<Function.Output>()
        output.values.reserveCapacity(inputs.count)
        for (index, input) in inputs.enumerated() {
            do {
                output.values.append(try await function(input))
            } catch {
                output.failures.append(.init(index: index, error: EncodedError(error)))
            }
        }
        return output
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

    /// One outcome per input, in input order; `nil` when the counts do not add up.
    func outcomes(count: Int) -> [Result<Value, any Error>]? {
        guard values.count + failures.count == count else { return nil }
        var outcomes: [Result<Value, any Error>] = []
        outcomes.reserveCapacity(count)
        var nextValue = values.startIndex
        var failures = self.failures[...]
        for index in 0..<count {
            if let failure = failures.first, failure.index == index {
                outcomes.append(.failure(failure.error.rebuilt))
                failures.removeFirst()
            } else {
                guard nextValue < values.endIndex else { return nil }
                outcomes.append(.success(values[nextValue]))
                nextValue += 1
            }
        }
        return outcomes
    }
}
