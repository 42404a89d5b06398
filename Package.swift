// swift-tools-version:6.0
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
        .target(name: "_PebbleShim"),
        .target(name: "Pebble", dependencies: ["_PebbleShim"]),
        .executableTarget(name: "Playground", dependencies: ["Pebble"], path: "Playground"),
        .executableTarget(name: "PebbleBench", dependencies: ["Pebble"], path: "Benchmarks",
                          exclude: ["peers", "compare.sh"]),
        .testTarget(name: "PebbleTests", dependencies: ["Pebble"]),
    ],
    swiftLanguageModes: [.v6]
)
