// SPDX-License-Identifier: Apache-2.0
import Dispatch
import PebbleCodec
import Synchronization
import _PebbleShim

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The worker process's loop. The C constructor in `_PebbleShim` calls it, before `main`, on a
/// thread of its own (the main thread services the main queue), in a process the pool spawned.
@_cdecl("pebble_worker_main")
func pebbleWorkerMain(_ channel: Int32) {
    var loop = WorkerLoop(channel: channel)
    loop.run()
}

/// Runs in the zygote before it forks anything: the first binary coding, type lookup by name and
/// conformance check in a process cost about 1 ms; done here, every worker inherits the warm caches.
/// It must not start a thread (the zygote forks), so it starts no task and touches no Dispatch queue.
@_cdecl("pebble_zygote_warm_up")
func pebbleZygoteWarmUp() {
    let name = _mangledTypeName(WarmUpJob.self) ?? ""
    guard let type = _typeByName(name) as? any ProcessJob.Type else { return }
    _ = type
    let job = WarmUpJob(values: [1, 2, 3], text: "warm")
    if let encoded = try? BinaryEncoder().encode(job) {
        _ = try? BinaryDecoder().decode(WarmUpJob.self, from: encoded[...])
    }
    if let encoded = try? BinaryEncoder().encode(EncodedError(PebbleError(.invalidArgument, ""))) {
        _ = try? BinaryDecoder().decode(EncodedError.self, from: encoded[...])
    }
    // A task on the inline executor runs on this thread and starts no other.
    _ = InlineExecutor().runToCompletion { (try? await job.run()) ?? 0 }
}
