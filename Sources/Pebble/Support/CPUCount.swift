import _PebbleShim

// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The number of CPUs this process may use, the default `maxWorkers`: the CPUs of its affinity
/// mask, lowered to its cgroup CPU quota when it has one (cgroup v2 `cpu.max`, or v1
/// `cpu.cfs_quota_us` / `cpu.cfs_period_us`, the smallest along the cgroup's ancestors), rounded
/// up; at least 1. A container limited to 2 CPUs on a 64-core node gets 2. Read anew at each
/// call (a quota can change).
///
/// ```swift
/// let pool = try ThreadPool(maxWorkers: usableCPUCount() * 2)
/// ```
public func usableCPUCount() -> Int {
    CPUQuota.usableCPUs(affinity: Int(pebble_usable_cpu_count()), quota: CPUQuota.cpus(reading: readSmallFile))
}

/// Parsing of cgroup CPU quotas, as pure functions over file contents.
enum CPUQuota {
    /// The affinity count lowered to the quota, at least 1.
    static func usableCPUs(affinity: Int, quota: Int?) -> Int {
        max(1, min(affinity, quota ?? affinity))
    }

    /// CPUs for a quota of `quota` µs every `period` µs, rounded up; `nil` for no quota.
    static func cpus(quota: Int, period: Int) -> Int? {
        guard quota > 0, period > 0 else { return nil }
        return (quota + period - 1) / period
    }

    /// A cgroup v2 `cpu.max` ("200000 100000", or "max 100000": no quota).
    static func cpus(cpuMax: String) -> Int? {
        let fields = cpuMax.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" })
        guard let first = fields.first, first != "max", let quota = Int(first) else { return nil }
        let period = fields.count > 1 ? Int(fields[1]) ?? 100_000 : 100_000
        return cpus(quota: quota, period: period)
    }

    /// cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us` (a quota of -1: none).
    static func cpus(cfsQuota: String, cfsPeriod: String) -> Int? {
        guard let quota = Int(cfsQuota.filter { !$0.isWhitespace }),
            let period = Int(cfsPeriod.filter { !$0.isWhitespace })
        else { return nil }
        return cpus(quota: quota, period: period)
    }

    /// A cgroup hierarchy's mount: where it is mounted and which cgroup its root shows.
    struct Mount: Equatable {
        var root: String
        var mountPoint: String
    }

    /// The cgroup v2 mount and the v1 mount holding the `cpu` controller, from `/proc/self/mountinfo`.
    static func mounts(mountinfo: String) -> (v2: Mount?, cpuV1: Mount?) {
        var v2: Mount?
        var cpuV1: Mount?
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count >= 7, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            let mount = Mount(root: fields[3], mountPoint: fields[4])
            switch fields[dash + 1] {
            case "cgroup2" where v2 == nil:
                v2 = mount
            case "cgroup" where cpuV1 == nil:
                let options = dash + 3 < fields.count ? fields[dash + 3].split(separator: ",") : []
                if options.contains("cpu") { cpuV1 = mount }
            default:
                continue
            }
        }
        return (v2, cpuV1)
    }

    /// The process's cgroup v2 path and its v1 `cpu` controller path, from `/proc/self/cgroup`.
    static func cgroupPaths(procSelfCgroup: String) -> (v2: String?, cpuV1: String?) {
        var v2: String?
        var cpuV1: String?
        for line in procSelfCgroup.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if parts[0] == "0" && parts[1].isEmpty {
                v2 = String(parts[2])
            } else if parts[1].split(separator: ",").contains("cpu") {
                cpuV1 = String(parts[2])
            }
        }
        return (v2, cpuV1)
    }

    /// The directories to read, from the process's own cgroup up to the hierarchy's mount point.
    static func directories(cgroup path: String, mount: Mount) -> [String] {
        var relative = path
        if mount.root != "/" {
            // Outside the mount's root (a v1 host path seen from a container): use the mount itself.
            relative = path.hasPrefix(mount.root) ? String(path.dropFirst(mount.root.count)) : ""
        }
        var components = relative.split(separator: "/").map(String.init)
        var directories: [String] = []
        let base = mount.mountPoint.hasSuffix("/") ? String(mount.mountPoint.dropLast()) : mount.mountPoint
        while true {
            directories.append(([base] + components).joined(separator: "/"))
            if components.isEmpty { break }
            components.removeLast()
        }
        return directories
    }

    /// The CPU quota of this process's cgroups, the smallest found along the v2 and v1 hierarchies;
    /// `nil` when there is none. `read` returns a file's contents, or `nil`.
    static func cpus(reading read: (String) -> String?) -> Int? {
        let paths = cgroupPaths(procSelfCgroup: read("/proc/self/cgroup") ?? "")
        let mounts = mounts(mountinfo: read("/proc/self/mountinfo") ?? "")
        var limits: [Int] = []
        if let path = paths.v2 {
            let mount = mounts.v2 ?? Mount(root: "/", mountPoint: "/sys/fs/cgroup")
            for directory in directories(cgroup: path, mount: mount) {
                if let cpuMax = read(directory + "/cpu.max"), let cpus = cpus(cpuMax: cpuMax) { limits.append(cpus) }
            }
        }
        if let path = paths.cpuV1 {
            let candidates =
                mounts.cpuV1.map { [$0] }
                ?? [Mount(root: "/", mountPoint: "/sys/fs/cgroup/cpu,cpuacct"), Mount(root: "/", mountPoint: "/sys/fs/cgroup/cpu")]
            for mount in candidates {
                for directory in directories(cgroup: path, mount: mount) {
                    if let quota = read(directory + "/cpu.cfs_quota_us"), let period = read(directory + "/cpu.cfs_period_us"),
                        let cpus = cpus(cfsQuota: quota, cfsPeriod: period)
                    {
                        limits.append(cpus)
                    }
                }
            }
        }
        return limits.min()
    }
}

/// The contents of a small file (a few kB at most, as in /proc and /sys), or `nil`.
func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while bytes.count < 1 << 20 {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }
        bytes += buffer[0..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}
