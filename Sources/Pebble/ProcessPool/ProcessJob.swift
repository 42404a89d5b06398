// SPDX-License-Identifier: Apache-2.0
/// A unit of work that runs in a worker process of a ``ProcessPool``.
///
/// A job is a `Codable` value: the pool encodes it, a worker process (a copy of your program)
/// decodes it, calls ``run()``, and sends the output back. The type must be `internal` or `public`
/// and declared at namespace scope (nesting inside another type is fine) so the worker can find it
/// by name; `schedule` rejects a `private`, `fileprivate` or function-local type with
/// ``PebbleError`` `.jobNotResolvable`.
///
/// ```swift
/// struct Square: ProcessJob {
///     let n: Int
///     func run() async throws -> Int { n * n }
/// }
/// let future = try pool.schedule(Square(n: 12), timeout: .seconds(1))
/// ```
public protocol ProcessJob: Codable, Sendable {
    /// What the job returns to the parent.
    associatedtype Output: Codable & Sendable
    /// Runs in the worker process.
    func run() async throws -> Output
}
