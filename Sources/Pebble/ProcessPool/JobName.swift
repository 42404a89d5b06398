// SPDX-License-Identifier: Apache-2.0
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
