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
}
