// SPDX-License-Identifier: Apache-2.0
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The messages on a worker's channel. Every message is a frame: an 8-byte little-endian body length,
/// then the body, whose first byte is one of these kinds.
enum MessageKind: UInt8 {
    // Parent to worker.
    /// u64 max message size, the ``WorkerSettings`` (48 bytes), the ``WorkerIdentity`` (the
    /// worker's board index and `maxTasks`), then an optional initializer job (u16 name length,
    /// name, job). Attached (SCM_RIGHTS): the pool's task feed and task board, then, with
    /// ``WorkerOutput/capture``, the write ends of the worker's stdout and stderr pipes.
    case hello = 0x48 // "H"
    /// On the task feed, not the channel: the offering's board slot (u16), sequence number (u64)
    /// and flags (``JobHeader``); then the request (u16 name length, mangled job type name, the job
    /// in the binary format, BinaryFormat.swift); without the request when it follows on the
    /// channel (``JobHeader/requestFollows``).
    case job = 0x4A // "J"
    /// The answer to a ``fetch``: the offering's sequence number (u64), then its request. Written
    /// from where the request's parts are, without blocking the pool (``RequestTransfer``).
    case request = 0x42 // "B"
    // Worker to parent.
    /// Started (and initialized); ready for a job.
    case ready = 0x52 // "R"
    /// The initializer threw: UTF-8 message.
    case initializerFailed = 0x49 // "I"
    /// The job's output in the binary format.
    case value = 0x56 // "V"
    /// An ``EncodedError`` the job threw, in the binary format.
    case error = 0x46 // "F"
    /// The job could not be decoded in the worker: UTF-8 message.
    case decodingFailed = 0x44 // "D"
    /// The output could not be encoded in the worker: UTF-8 message.
    case encodingFailed = 0x58 // "X"
    /// The output is larger than the pool's max message size: UTF-8 message.
    case tooLarge = 0x54 // "T"
    /// Sent just before a task's outcome: the worker exits after it; a ``WorkerRetirement``.
    case retiring = 0x51 // "Q"
    /// The worker took the offering whose sequence number (u64) follows: sent for tasks with a
    /// timeout (``JobHeader/announceTake``), whose timeout starts then.
    case started = 0x53 // "S"
    /// The worker took the offering whose sequence number (u64) follows, whose request did not
    /// come in the message (``JobHeader/requestFollows``): the pool sends it (``request``), and
    /// starts the task's timeout now, if it has one.
    case fetch = 0x47 // "G"
    /// With `recordsResourceUsage`: what the task the next outcome answers used, a
    /// ``UsageReport``; sent in the same write as that outcome, just before it.
    case usage = 0x55 // "U"

    /// A task's outcome, answering the oldest task the worker took and the pool has not seen answered.
    var isReply: Bool {
        switch self {
        case .value, .error, .decodingFailed, .encodingFailed, .tooLarge: true
        default: false
        }
    }

    /// An outcome, or a ``usage`` frame that goes with the outcome after it: handed over with the
    /// replies of the same read, in order.
    var travelsWithReplies: Bool { isReply || self == .usage }
}
