// SPDX-License-Identifier: Apache-2.0
import _PebbleShim

/// The limits a worker process sets on itself (never called in the pool's process).
///
/// `addressSpace`, `openFiles` and `fileSize` are set once, soft and hard, after the hello. CPU time
/// counts per task: RLIMIT_CPU measures a process's whole life, so before each task the worker moves
/// its soft limit to the CPU time it has used so far plus `cpuTime`, rounded up to whole seconds
/// (the kernel's unit). A task thus gets at least `cpuTime` and less than `cpuTime` + 1 s before
/// SIGXCPU ends the worker; five 0.4 s tasks under a 1 s limit each start with a fresh second.
/// The hard limit is left alone, since a process can never raise it again for the next task.
enum WorkerLimits {
    /// Sets the limits that hold for the worker's whole life.
    static func apply(_ limits: ResourceLimits) {
        if let bytes = limits.addressSpace { pebble_limit_resource(Int32(PEBBLE_LIMIT_ADDRESS_SPACE), UInt64(bytes)) }
        if let count = limits.openFiles { pebble_limit_resource(Int32(PEBBLE_LIMIT_OPEN_FILES), UInt64(count)) }
        if let bytes = limits.fileSize { pebble_limit_resource(Int32(PEBBLE_LIMIT_FILE_SIZE), UInt64(bytes)) }
    }

    /// Gives the next task (or the initializer) `cpuTime` of CPU from now; nothing without one.
    static func startTask(cpuTime: Duration?) {
        guard let cpuTime else { return }
        pebble_limit_cpu_from_now(Int64(WorkerSettings.nanoseconds(cpuTime)))
    }

    /// This process's resident set in bytes, `nil` if it cannot be read.
    static func residentBytes() -> Int? {
        let bytes = pebble_resident_bytes()
        return bytes < 0 ? nil : Int(bytes)
    }
}
