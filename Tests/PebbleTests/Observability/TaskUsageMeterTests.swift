// SPDX-License-Identifier: Apache-2.0
import Foundation
import Testing

@testable import Pebble

/// The meter measures the process it runs in; here, the test process itself.
@Suite(.serialized) struct TaskUsageMeterTests {
    @Test func cpuTimeCountsWhatTheTaskBurned() {
        let meter = TaskUsageMeter()
        meter.begin()
        // Spins until this thread has burned 0.3 s of CPU (wall time would count a loaded machine's waits).
        var spin: UInt64 = 0
        let start = threadCPUTime()
        while threadCPUTime() - start < .milliseconds(300) { spin &+= 1 }
        let usage = meter.end()
        #expect(spin > 0)
        // Other threads of the test process may add to it, never subtract.
        #expect(usage.userTime + usage.systemTime >= .milliseconds(250))
    }

    private func threadCPUTime() -> Duration {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
    }

    @Test func peakIsResetAtTheStartOfEachTask() throws {
        let meter = TaskUsageMeter()
        meter.begin()
        let size = 256 << 20
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
        for page in stride(from: 0, to: size, by: 4096) { block.storeBytes(of: 1, toByteOffset: page, as: UInt8.self) }
        let big = meter.end()
        block.deallocate()
        let peak = try #require(big.peakResidentMemory)
        #expect(peak >= 240 << 20)

        meter.begin()
        let small = meter.end()
        let smallPeak = try #require(small.peakResidentMemory)
        #expect(smallPeak < peak - (128 << 20), "after freeing 256 MB the next task's peak is its own: \(smallPeak)")
    }

    @Test func memoryFreedBeforeTheTaskEndsStillShowsInItsPeak() throws {
        let meter = TaskUsageMeter()
        meter.begin()
        let size = 256 << 20
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
        for page in stride(from: 0, to: size, by: 4096) { block.storeBytes(of: 1, toByteOffset: page, as: UInt8.self) }
        block.deallocate()
        let usage = meter.end()
        #expect(try #require(usage.peakResidentMemory) >= 240 << 20)
    }

    @Test func aTaskThatTouchesNoNewMemoryReportsTheResidentSetItStartedWith() throws {
        let meter = TaskUsageMeter()
        var sum = 0
        meter.begin()
        for value in 0..<1_000 { sum &+= value }
        let usage = meter.end()
        #expect(sum > 0)
        let peak = try #require(usage.peakResidentMemory)
        #expect(peak > 1 << 20 && peak < 1 << 40)
    }
}
