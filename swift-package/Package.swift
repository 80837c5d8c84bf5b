// swift-tools-version:6.0
// BlazeDB for Swift: the upstream BlazeDB API over the Rust core.
//
// The Rust core reaches Swift through two internal targets: BlazeDBFFI (the C header and
// module map of the Rust library) and BlazeDBBindings (UniFFI's generated Swift). Only the
// BlazeDB library product is public. BlazeDBFFI comes in one of three modes:
//
// - source (default): scripts/build-rust.sh builds libblazedb_ffi.a into RustLib/ and
//   generates the header; linked with -L RustLib. SwiftPM accepts those unsafeFlags only in a
//   root package or a local path dependency, so this mode is for development and CI.
// - local XCFramework (BLAZEDB_XCFRAMEWORK=local): the binaryTarget
//   XCFramework/BlazeDBFFI.xcframework built by scripts/build-xcframework.sh.
// - remote XCFramework: xcframeworkURL and xcframeworkChecksum below, pinned by
//   `scripts/build-xcframework.sh --url URL` for a release; this is what a versioned
//   dependency (`.package(url:from:)`) gets, with no unsafe flags.
// swift-package/README.md describes each.
import PackageDescription

/// Release pin for the remote XCFramework; nil in development.
let xcframeworkURL: String? = nil
/// SwiftPM checksum of the zip at xcframeworkURL (`swift package compute-checksum`).
let xcframeworkChecksum: String? = nil

// Only libblazedb_ffi.a is put here, so the linker cannot pick a shared library by accident.
let rustLibDir = Context.packageDirectory + "/RustLib"

let ffiTarget: Target
let bindingsLinker: [LinkerSetting]
if let url = xcframeworkURL, let checksum = xcframeworkChecksum {
    ffiTarget = .binaryTarget(name: "BlazeDBFFI", url: url, checksum: checksum)
    bindingsLinker = []
} else if Context.environment["BLAZEDB_XCFRAMEWORK"] == "local" {
    ffiTarget = .binaryTarget(name: "BlazeDBFFI", path: "XCFramework/BlazeDBFFI.xcframework")
    bindingsLinker = []
} else {
    // Generated: the C declarations of the Rust library's exported functions.
    ffiTarget = .systemLibrary(name: "BlazeDBFFI", path: "Sources/BlazeDBFFI")
    bindingsLinker = [.unsafeFlags(["-L", rustLibDir]), .linkedLibrary("blazedb_ffi")]
}

let package = Package(
    name: "BlazeDB",
    platforms: [.macOS(.v13), .iOS(.v15)],
    products: [
        .library(name: "BlazeDB", targets: ["BlazeDB"]),
    ],
    targets: [
        ffiTarget,
        // Generated: UniFFI's Swift bindings (Database, Transaction, BlazeValue, BlazeError...).
        .target(
            name: "BlazeDBBindings",
            dependencies: ["BlazeDBFFI"],
            path: "Sources/BlazeDBBindings",
            linkerSettings: bindingsLinker
        ),
        // Hand-written: the upstream public API (BlazeDBClient, BlazeDataRecord, ...).
        .target(name: "BlazeDB", dependencies: ["BlazeDBBindings"], path: "Sources/BlazeDB"),
        // The tests also import BlazeDBBindings, to check the error mapping case by case.
        .testTarget(name: "BlazeDBTests", dependencies: ["BlazeDB", "BlazeDBBindings"], path: "Tests/BlazeDBTests"),
    ],
    swiftLanguageModes: [.v6]
)
