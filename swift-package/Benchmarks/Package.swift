// swift-tools-version:6.0
// The Swift half of the Swift-vs-Rust benchmark (scripts/bench-swift-vs-rust.sh). A package of
// its own, depending on BlazeDB by path as an app does, so the benchmark measures the public
// API exactly as apps call it. Build it in release mode: `swift run -c release SwiftVsRust`.
import PackageDescription

let package = Package(
    name: "Benchmarks",
    platforms: [.macOS(.v13), .iOS(.v15)],
    dependencies: [
        .package(name: "BlazeDB", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "SwiftVsRust",
            dependencies: [.product(name: "BlazeDB", package: "BlazeDB")],
            path: "Sources/SwiftVsRust"
        ),
    ],
    swiftLanguageModes: [.v6]
)
