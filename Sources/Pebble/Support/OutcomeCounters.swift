// SPDX-License-Identifier: Apache-2.0

/// How the tasks of a pool ended, counted as their futures complete (a map counts its inputs).
struct OutcomeCounters: Sendable, Hashable {
    var completed = 0
    var failed = 0
    var timedOut = 0
    var crashed = 0
    var cancelled = 0

    /// Counts one outcome: `nil` for a value, else the error.
    mutating func record(_ error: (any Error)?, times count: Int = 1) {
        switch error {
        case nil: completed += count
        case is TimeoutError: timedOut += count
        case is ProcessExpired: crashed += count
        case is CancellationError: cancelled += count
        default: failed += count
        }
    }

    /// Counts the outcomes of a map chunk: each input's, or the chunk's failure once per input.
    mutating func record<V>(chunk outcome: Result<MapChunkValues<V>, any Error>, inputs: Int) {
        switch outcome {
        case .success(let chunk):
            if let error = chunk.chunkError { return record(error, times: chunk.count) }
            completed += chunk.values.count
            for failure in chunk.failures { record(failure.error) }
        case .failure(let error): record(error, times: inputs)
        }
    }
}
