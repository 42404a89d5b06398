// SPDX-License-Identifier: Apache-2.0
/// The outcomes of one chunk of a map, in bulk: the values of the inputs that succeeded, in order,
/// the errors of those that failed by index, or one error for the whole chunk (a timeout, a dead
/// worker, a cancel). Values stay one array, so a chunk of numbers is copied as one block and never
/// becomes a `Result` per input until a caller iterates.
@usableFromInline
struct MapChunkValues<Value: Sendable>: Sendable {
    /// How many inputs the chunk has.
    @usableFromInline let count: Int
    /// The outputs of the inputs that succeeded, in input order.
    @usableFromInline let values: [Value]
    /// The inputs that failed: index in the chunk (ascending) and error.
    @usableFromInline let failures: [(index: Int, error: any Error)]
    /// When set, every input of the chunk failed with it (and `values`, `failures` are empty).
    @usableFromInline let chunkError: (any Error)?

    init(count: Int, values: [Value], failures: [(index: Int, error: any Error)]) {
        self.count = count
        self.values = values
        self.failures = failures
        self.chunkError = nil
    }

    /// A chunk whose every input failed with `error`.
    init(count: Int, failing error: any Error) {
        self.count = count
        self.values = []
        self.failures = []
        self.chunkError = error
    }

    /// The chunk's outcomes from its future's outcome: a failed future fails each input.
    init(_ outcome: Result<MapChunkValues<Value>, any Error>, count: Int) {
        switch outcome {
        case .success(let chunk): self = chunk
        case .failure(let error): self.init(count: count, failing: error)
        }
    }

    /// `transform` applied to each input, on the calling thread (a thread pool's chunk).
    init<Input>(applying transform: (Input) throws -> Value, to inputs: [Input]) {
        var values: [Value] = []
        values.reserveCapacity(inputs.count)
        var failures: [(index: Int, error: any Error)] = []
        for index in inputs.indices {
            do { values.append(try transform(inputs[index])) } catch { failures.append((index, error)) }
        }
        self.init(count: inputs.count, values: values, failures: failures)
    }

    /// The error of the first input that failed, if any.
    var firstError: (any Error)? { chunkError ?? failures.first?.error }

    /// Calls `body` with each outcome, in input order.
    func forEachOutcome(_ body: (Result<Value, any Error>) -> Void) {
        var cursor = Cursor()
        while let outcome = cursor.next(in: self) { body(outcome) }
    }

    /// A position in a chunk's outcomes.
    @usableFromInline
    struct Cursor: Sendable {
        @usableFromInline var position = 0
        @usableFromInline var nextValue = 0
        @usableFromInline var nextFailure = 0

        @usableFromInline init() {}

        /// The outcome at the position, then one step on; `nil` past the last input.
        @inlinable
        mutating func next(in chunk: MapChunkValues<Value>) -> Result<Value, any Error>? {
            guard position < chunk.count else { return nil }
            defer { position += 1 }
            if let error = chunk.chunkError { return .failure(error) }
            if nextFailure < chunk.failures.count, chunk.failures[nextFailure].index == position {
                defer { nextFailure += 1 }
                return .failure(chunk.failures[nextFailure].error)
            }
            defer { nextValue += 1 }
            return .success(chunk.values[nextValue])
        }
    }
}
