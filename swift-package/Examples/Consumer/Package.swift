// swift-tools-version:6.0
// A tiny app that adopts BlazeDB the way an app does during development: as a local path
// dependency. scripts/test-bindings.sh builds and runs it.
import PackageDescription

let package = Package(
    name: "Consumer",
    platforms: [.macOS(.v13), .iOS(.v15)],
    dependencies: [
        .package(name: "BlazeDB", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "Consumer",
            dependencies: [.product(name: "BlazeDB", package: "BlazeDB")],
            path: "Sources/Consumer"
        ),
    ],
    swiftLanguageModes: [.v6]
)
