// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import Pebble

/// `usableCPUCount()`'s cgroup quota parsing, on fixture files.
struct CPUQuotaTests {
    /// A reader over fixture files.
    func files(_ contents: [String: String]) -> (String) -> String? { { contents[$0] } }

    @Test func cgroupV2ContainerLimitedToTwoCPUsOnA64CoreNode() {
        let read = files([
            "/proc/self/cgroup": "0::/\n",
            "/proc/self/mountinfo": "30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n",
            "/sys/fs/cgroup/cpu.max": "200000 100000\n"
        ])
        #expect(CPUQuota.cpus(reading: read) == 2)
        #expect(CPUQuota.usableCPUs(affinity: 64, quota: CPUQuota.cpus(reading: read)) == 2)
    }

    @Test func cgroupV2QuotaOfMaxMeansNone() {
        #expect(CPUQuota.cpus(cpuMax: "max 100000\n") == nil)
        let read = files([
            "/proc/self/cgroup": "0::/\n",
            "/sys/fs/cgroup/cpu.max": "max 100000\n"
        ])
        #expect(CPUQuota.cpus(reading: read) == nil)
        #expect(CPUQuota.usableCPUs(affinity: 64, quota: nil) == 64)
    }

    @Test func cgroupV2FractionsRoundUpAndTheSmallestAncestorWins() {
        #expect(CPUQuota.cpus(cpuMax: "150000 100000") == 2)
        #expect(CPUQuota.cpus(cpuMax: "50000 100000") == 1)
        #expect(CPUQuota.cpus(cpuMax: "400000") == 4)
        // A service's own cgroup under a slice with a tighter quota; the mount shows the whole tree.
        let read = files([
            "/proc/self/cgroup": "0::/system.slice/app.service\n",
            "/proc/self/mountinfo": "30 24 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            "/sys/fs/cgroup/system.slice/app.service/cpu.max": "800000 100000\n",
            "/sys/fs/cgroup/system.slice/cpu.max": "300000 100000\n",
            "/sys/fs/cgroup/cpu.max": "max 100000\n"
        ])
        #expect(CPUQuota.cpus(reading: read) == 3)
    }

    @Test func cgroupV1CFSQuota() {
        #expect(CPUQuota.cpus(cfsQuota: "-1\n", cfsPeriod: "100000\n") == nil)
        #expect(CPUQuota.cpus(cfsQuota: "250000\n", cfsPeriod: "100000\n") == 3)
        // Docker on a v1 host: the container sees its host path in /proc/self/cgroup and the
        // mount's root is that same path.
        let read = files([
            "/proc/self/cgroup": "12:cpu,cpuacct:/docker/abc123\n11:memory:/docker/abc123\n",
            "/proc/self/mountinfo": "40 31 0:37 /docker/abc123 /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct\n",
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "200000\n",
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n"
        ])
        #expect(CPUQuota.cpus(reading: read) == 2)
        #expect(CPUQuota.usableCPUs(affinity: 64, quota: CPUQuota.cpus(reading: read)) == 2)
    }

    @Test func cgroupV1WithoutQuotaAndHybridHosts() {
        // This machine's layout: v1 cpu controller with no quota, an empty v2 hierarchy beside it.
        let read = files([
            "/proc/self/cgroup": "1:cpu:/\n0::/\n",
            "/proc/self/mountinfo": """
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            """,
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
            "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n"
        ])
        #expect(CPUQuota.cpus(reading: read) == nil)
        #expect(CPUQuota.cpus(reading: files([:])) == nil)
    }

    @Test func atLeastOneAndNeverAboveTheAffinityMask() {
        #expect(CPUQuota.usableCPUs(affinity: 4, quota: 16) == 4)
        #expect(CPUQuota.usableCPUs(affinity: 0, quota: nil) == 1)
        #expect(CPUQuota.cpus(quota: 0, period: 100_000) == nil)
        #expect(usableCPUCount() >= 1)
    }
}
