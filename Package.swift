// swift-tools-version:6.0
// SPDX-License-Identifier: Apache-2.0
import PackageDescription

let package = Package(
    name: "swift-pebble",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Pebble", targets: ["Pebble"]),
        .executable(name: "Playground", targets: ["Playground"]),
        .executable(name: "pebble-bench", targets: ["PebbleBench"]),
    ],
    targets: [
        // C: the syscalls Glibc does not export, the worker and zygote entry points.
        .target(name: "_PebbleShim"),
        // The binary Codable format jobs and outputs travel in; `package` access, no public API.
        .target(name: "PebbleCodec"),
        .target(name: "Pebble", dependencies: ["_PebbleShim", "PebbleCodec"]),
        .executableTarget(name: "Playground", dependencies: ["Pebble"], path: "Playground"),
        .executableTarget(name: "PebbleBench", dependencies: ["Pebble", "PebbleCodec", "_PebbleTestShim"], path: "Benchmarks",
                          exclude: ["peers", "compare.sh", "with-cpu-hogs.sh", "README.md"]),
        .testTarget(name: "PebbleCodecTests", dependencies: ["PebbleCodec"]),
        // C helpers only the tests and the benchmark use (not part of the library); it tests the
        // zygote's worker table through _PebbleShim's internal header.
        .target(
            name: "_PebbleTestShim", dependencies: ["_PebbleShim"], path: "Tests/_PebbleTestShim",
            cSettings: [.headerSearchPath("../../Sources/_PebbleShim")]),
        // Jobs and helpers shared by the test targets (a job type may live in any module of the
        // test binary: workers are the same binary).
        .target(name: "PebbleTestSupport", dependencies: ["Pebble", "_PebbleShim"], path: "Tests/PebbleTestSupport"),
        .testTarget(name: "PebbleTests", dependencies: ["Pebble", "PebbleTestSupport", "_PebbleTestShim"]),
        .testTarget(name: "PebbleReliabilityTests", dependencies: ["Pebble", "PebbleTestSupport"]),
        .testTarget(name: "PebbleStateMachineTests", dependencies: ["Pebble"]),
    ],
    swiftLanguageModes: [.v6]
)
