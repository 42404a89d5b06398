// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import Pebble

/// `CommandResult.resourceUsage`: the CPU time and peak of the command's whole tree.
@Suite(.timeLimit(.minutes(2))) struct CommandUsageTests {
    @Test func aCommandReportsTheCPUTimeOfItsTreeDescendantsIncluded() async throws {
        // The loop runs in a grandchild (an inner shell in the background), about 0.4 s of CPU.
        let loop = "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done"
        let result = try await Command("/bin/sh", arguments: ["-c", "sh -c '\(loop)' & wait"]).run()
        #expect(result.status.isSuccess)
        let cpu = result.resourceUsage.userTime + result.resourceUsage.systemTime
        #expect(cpu >= .milliseconds(250), "\(result.resourceUsage)")
        #expect(cpu < .seconds(60), "\(result.resourceUsage)")
    }

    @Test func aCommandReportsTheLargestPeakOfItsTree() async throws {
        var own = rusage()
        getrusage(RUSAGE_SELF.rawValue, &own)
        let ownPeak = Int(own.ru_maxrss) * 1024
        // sort holds its one 200 MB line in memory.
        let result = try await Command("/bin/sh", arguments: ["-c", "head -c 200000000 /dev/zero | sort > /dev/null"]).run()
        #expect(result.status.isSuccess)
        if ownPeak < 150 << 20 {
            let peak = try #require(result.resourceUsage.peakResidentMemory, "own peak \(ownPeak)")
            #expect(peak >= 180 << 20, "\(result.resourceUsage)")
            #expect(peak < 4 << 30, "\(result.resourceUsage)")
        } else {
            // This process's own peak, which every process of the tree inherits, may hide the command's.
            #expect(result.resourceUsage.peakResidentMemory.map { $0 >= 180 << 20 } ?? true, "\(result.resourceUsage)")
        }
    }

    @Test func aSmallCommandsPeakIsUnknownOrSmall() async throws {
        let result = try await Command("/bin/true").run()
        #expect(result.status.isSuccess)
        #expect(result.resourceUsage.userTime + result.resourceUsage.systemTime < .seconds(5))
        #expect(result.resourceUsage.peakResidentMemory.map { $0 < 64 << 20 } ?? true, "\(result.resourceUsage)")
    }
}
