// SPDX-License-Identifier: Apache-2.0
/// The name a worker looks a job type up by, and the lookups both ways, cached.
///
/// `_mangledTypeName` + `_typeByName` on every `schedule` took 13% of the pool's main thread in
/// M3, and `_typeByName` on every job 12% of the worker; each side now pays them once per type.
enum JobName {
    /// Pool side: mangled names of job types already checked, by type.
    private static let names = StateLock<[ObjectIdentifier: String]>([:])
    /// Worker side: job types already looked up, by mangled name.
    private static let types = StateLock<[String: any ProcessJob.Type]>([:])

    /// The mangled name of `type`, or `.jobNotResolvable` when a worker could not look it up.
    static func of<J>(_ type: J.Type) throws -> String {
        let key = ObjectIdentifier(type)
        if let name = names.withLock({ $0[key] }) { return name }
        guard let name = _mangledTypeName(type), _typeByName(name) != nil else {
            throw PebbleError(
                .jobNotResolvable,
                """
                the job type \(String(reflecting: type)) cannot be looked up by name in a worker process; \
                declare it 'internal' or 'public' at namespace scope (nesting in another type is fine), \
                not 'private', 'fileprivate' or inside a function
                """)
        }
        names.withLock { $0[key] = name }
        return name
    }

    /// The job type a worker finds under `name`, or `nil` when there is none.
    static func jobType(named name: String) -> (any ProcessJob.Type)? {
        if let type = types.withLock({ $0[name] }) { return type }
        guard let type = _typeByName(name) as? any ProcessJob.Type else { return nil }
        types.withLock { $0[name] = type }
        return type
    }
}
