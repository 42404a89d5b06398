// SPDX-License-Identifier: Apache-2.0
import Dispatch
import PebbleCodec

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An error thrown by a job, as it travels from a worker to the parent.
///
/// A `Codable` error whose type the parent can look up is rebuilt as itself; anything else becomes
/// a ``RemoteError`` with the type's name and the error's description.
struct EncodedError: Codable, Sendable, Error {
    var typeName: String
    var message: String
    var pid: Int32
    /// The error's mangled type name and encoding, when it is `Codable` and resolvable by name.
    var mangledName: String?
    var encoded: [UInt8]?

    init(_ error: any Error) {
        typeName = String(reflecting: type(of: error))
        message = String(describing: error)
        pid = getpid()
        if let encodable = error as? any (Error & Encodable),
            let name = _mangledTypeName(type(of: error)), _typeByName(name) != nil,
            let encoded = try? BinaryEncoder().encode(encodable)
        {
            mangledName = name
            self.encoded = encoded
        }
    }

    /// The error to hand the caller: the original type when it decodes, else a ``RemoteError``.
    var rebuilt: any Error {
        if let mangledName, let encoded,
            let type = _typeByName(mangledName) as? any (Error & Decodable).Type,
            let error = try? Self.decode(type, encoded)
        {
            return error
        }
        return RemoteError(typeName: typeName, message: message, pid: pid)
    }

    private static func decode<E: Error & Decodable>(_ type: E.Type, _ encoded: [UInt8]) throws -> any Error {
        try BinaryDecoder().decode(type, from: encoded[...])
    }
}
