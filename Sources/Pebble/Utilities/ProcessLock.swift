// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A lock shared by name between processes, and between the threads of each process.
///
/// The lock is an exclusive `flock(2)` on the file `pebble-<name>.lock` in the directory named
/// by the `TMPDIR` environment variable, or `/tmp` when it is unset or empty; ``path`` tells
/// which file. Processes share the lock when they use the same name and the same directory.
/// The file is created with mode `0600`, so only processes of the same user share it, and it is
/// left in place afterwards: deleting it while the lock is in use breaks the exclusion. Because
/// the kernel drops a `flock` when its last file descriptor closes, a process that dies while
/// holding the lock releases it. The descriptor is close-on-exec, so spawned programs do not
/// inherit the lock.
///
/// `flock` excludes open file descriptions, not threads, so each instance also keeps an
/// in-process flag: while one thread holds the lock through an instance, other threads using
/// that instance wait for it as well. Instances with the same name exclude each other through
/// the kernel. A lock taken on one thread may be released on another. The lock is not
/// recursive: taking it again on the thread that holds it waits forever.
///
/// ```swift
/// let lock = try ProcessLock(name: "cache-rebuild")
/// synchronized(lock) { rebuildSharedCache() }
/// ```
public final class ProcessLock: Lockable {
    /// The lock file.
    ///
    /// ```swift
    /// try ProcessLock(name: "reports").path   // "/tmp/pebble-reports.lock" when TMPDIR is unset
    /// ```
    public let path: String
    private let descriptor: Int32
    /// Whether a thread of this process holds the lock through this instance.
    private let held = ConditionLock(false)

    /// Opens, creating it if needed, the lock file for `name`; does not take the lock.
    ///
    /// - Parameter name: The lock's name. It must not be empty or contain `/` or a NUL
    ///   character; bytes other than ASCII letters, digits, `.`, `_` and `-` are percent-encoded
    ///   in the file name, which must fit in 255 bytes.
    /// - Throws: ``PebbleError`` with code ``PebbleError/Code/invalidArgument`` naming `name`
    ///   when the name is not allowed or its lock file cannot be opened.
    ///
    /// ```swift
    /// let lock = try ProcessLock(name: "nightly-report")
    /// ```
    public init(name: String) throws {
        path = try Self.directory() + "/" + Self.fileName(for: name)
        descriptor = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw PebbleError.invalidArgument("name", "cannot open the lock file \(path): \(Self.errorText(errno))")
        }
    }

    deinit {
        close(descriptor)
    }

    /// Takes the lock, waiting while another thread or process holds it.
    ///
    /// ```swift
    /// lock.lock()
    /// defer { lock.unlock() }
    /// ```
    public func lock() {
        _ = held.withLock(when: { !$0 }, before: .distantFuture) { $0 = true }
        _ = applyFlock(LOCK_EX)
    }

    /// Takes the lock if no other thread or process holds it, without waiting.
    ///
    /// - Returns: `true` when the caller now holds the lock and must ``unlock()`` it.
    ///
    /// ```swift
    /// if lock.tryLock() {
    ///     defer { lock.unlock() }
    ///     runExclusiveJob()
    /// }
    /// ```
    public func tryLock() -> Bool {
        let claimed = held.withLock { isHeld in
            defer { isHeld = true }
            return !isHeld
        }
        guard claimed else { return false }
        if applyFlock(LOCK_EX | LOCK_NB) { return true }
        release()
        return false
    }

    /// Releases the lock. Releasing a lock that is not held is a programming error and traps.
    ///
    /// ```swift
    /// lock.unlock()
    /// ```
    public func unlock() {
        precondition(held.withLock { $0 }, "ProcessLock.unlock() called on a lock that is not held")
        _ = applyFlock(LOCK_UN)
        release()
    }

    /// Clears the in-process flag and wakes the threads waiting for it.
    private func release() {
        held.withLock { $0 = false }
        held.broadcast()
    }

    /// Runs `flock` on the lock file, retrying when a signal interrupts it. Returns `false`
    /// when a non-blocking request finds the lock taken; traps on any other failure, which
    /// means the descriptor is unusable.
    private func applyFlock(_ operation: Int32) -> Bool {
        while flock(descriptor, operation) != 0 {
            switch errno {
            case EINTR: continue
            case EWOULDBLOCK: return false
            case let code: fatalError("ProcessLock: flock on \(path) failed: \(Self.errorText(code))")
            }
        }
        return true
    }

    /// `$TMPDIR` without trailing slashes (so `/` becomes empty), or `/tmp`.
    private static func directory() -> String {
        guard let value = getenv("TMPDIR").map({ String(cString: $0) }), !value.isEmpty else { return "/tmp" }
        return String(value.reversed().drop { $0 == "/" }.reversed())
    }

    /// The lock file name for `name`: `pebble-<percent-encoded name>.lock`.
    private static func fileName(for name: String) throws -> String {
        if name.isEmpty { throw PebbleError.invalidArgument("name", "must not be empty") }
        if name.contains("/") || name.contains("\0") {
            throw PebbleError.invalidArgument("name", "must not contain '/' or NUL, got \"\(name)\"")
        }
        let encoded = name.utf8.map { byte in
            plainBytes.contains(byte)
                ? String(Unicode.Scalar(byte))
                : "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
        }.joined()
        let fileName = "pebble-\(encoded).lock"
        if fileName.utf8.count > 255 {
            throw PebbleError.invalidArgument(
                "name", "is too long: its lock file name has \(fileName.utf8.count) bytes, the limit is 255")
        }
        return fileName
    }

    /// The bytes a lock file name keeps as they are.
    private static let plainBytes = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-".utf8)

    private static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
