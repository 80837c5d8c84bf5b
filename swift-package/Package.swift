// swift-tools-version:6.0
// BlazeDB for Swift: the upstream BlazeDB API over the Rust core.
//
// Run scripts/build-rust.sh first: it builds the Rust static library into RustLib/ and
// generates the internal targets BlazeDBFFI (C header + module map) and BlazeDBBindings
// (UniFFI Swift). Only the BlazeDB library product is public.
import PackageDescription

// Only libblazedb_ffi.a is put here, so the linker cannot pick a shared library by accident.
let rustLibDir = Context.packageDirectory + "/RustLib"

let package = Package(
    name: "BlazeDB",
    platforms: [.macOS(.v13), .iOS(.v15)],
    products: [
        .library(name: "BlazeDB", targets: ["BlazeDB"]),
    ],
    targets: [
        // Generated: the C declarations of the Rust library's exported functions.
        .systemLibrary(name: "BlazeDBFFI", path: "Sources/BlazeDBFFI"),
        // Generated: UniFFI's Swift bindings (Database, Transaction, BlazeValue, BlazeError...).
        .target(
            name: "BlazeDBBindings",
            dependencies: ["BlazeDBFFI"],
            path: "Sources/BlazeDBBindings",
            linkerSettings: [
                .unsafeFlags(["-L", rustLibDir]),
                .linkedLibrary("blazedb_ffi"),
            ]
        ),
        // Hand-written: the upstream public API (BlazeDBClient, BlazeDataRecord, ...).
        .target(name: "BlazeDB", dependencies: ["BlazeDBBindings"], path: "Sources/BlazeDB"),
        .testTarget(name: "BlazeDBTests", dependencies: ["BlazeDB"], path: "Tests/BlazeDBTests"),
    ],
    swiftLanguageModes: [.v6]
)
