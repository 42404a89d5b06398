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

/// The name a worker looks a job type up by.
enum JobName {
    /// The mangled name of `type`, or `.jobNotResolvable` when a worker could not look it up.
    static func of<J>(_ type: J.Type) throws -> String {
        guard let name = _mangledTypeName(type), _typeByName(name) != nil else {
            throw PebbleError(.jobNotResolvable, """
                the job type \(String(reflecting: type)) cannot be looked up by name in a worker process; \
                declare it 'internal' or 'public' at namespace scope (nesting in another type is fine), \
                not 'private', 'fileprivate' or inside a function
                """)
        }
        return name
    }
}

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
