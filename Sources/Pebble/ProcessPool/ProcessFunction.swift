// SPDX-License-Identifier: Apache-2.0
/// A function applied to many inputs in worker processes by ``ProcessPool/map(_:_:chunkSize:timeout:)``.
///
/// Its stored properties travel with every chunk, so keep them small.
///
/// ```swift
/// struct WordCount: ProcessFunction {
///     func callAsFunction(_ text: String) async throws -> Int { text.split(separator: " ").count }
/// }
/// let counts = try pool.map(WordCount(), documents, chunkSize: 50)
/// ```
public protocol ProcessFunction: Codable, Sendable {
    /// One input.
    associatedtype Input: Codable & Sendable
    /// The output for one input.
    associatedtype Output: Codable & Sendable
    /// Runs in the worker process, once per input.
    func callAsFunction(_ input: Input) async throws -> Output

    /// Runs the function over one chunk of a map, in the worker. An implementation detail of
    /// ``ProcessPool/map(_:_:chunkSize:timeout:)``: do not implement it, the default is right.
    ///
    /// The default is inlinable, so the witness the compiler writes for your conformance, in your
    /// module, specialises it for your function: the loop over the chunk calls your
    /// `callAsFunction` directly (inlined when it is visible), and a function that never
    /// suspends runs the whole chunk as straight-line code, with no generic call, no `Result` and
    /// no task per input.
    ///
    /// ```swift
    /// let (values, failures) = await WordCount()._mapChunk(["a b", "c"])   // ([2, 1], [])
    /// ```
    func _mapChunk(_ inputs: [Input]) async -> (values: [Output], failures: [(index: Int, error: any Error)])
}

extension ProcessFunction {
    /// The function applied to each input in order: the values of those that succeeded, and the
    /// errors of those that threw, by index.
    ///
    /// ```swift
    /// let (values, failures) = await WordCount()._mapChunk(["a b", "c"])   // ([2, 1], [])
    /// ```
    @inlinable
    public func _mapChunk(_ inputs: [Input]) async -> (values: [Output], failures: [(index: Int, error: any Error)]) {
        var values: [Output] = []
        values.reserveCapacity(inputs.count)
        var failures: [(index: Int, error: any Error)] = []
        for index in inputs.indices {
            do {
                values.append(try await self(inputs[index]))
            } catch {
                failures.append((index, error))
            }
        }
        return (values, failures)
    }
}
