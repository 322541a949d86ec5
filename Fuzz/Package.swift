// swift-tools-version:6.1
// libFuzzer targets for Linkgate's parsers (issue 11). A separate package so the normal
// `swift build` never sees them: `scripts/fuzz` builds it with `-sanitize=fuzzer,address`
// into `.build-fuzz`. Sources/<Module> are symlinks to the main package's pure modules (no
// Hummingbird, no SQLite), compiled with `-enable-testing` so targets can reach internal
// parsers through `@testable import`.
import PackageDescription

let testable: [SwiftSetting] = [.unsafeFlags(["-enable-testing"])]

/// Each fuzz target: an executable whose only source defines `LLVMFuzzerTestOneInput`.
let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
    ("FuzzAuthorizationHeader", ["OAuth1", "LinkgateCore"]),
    ("FuzzFormBody", ["LinkgateCore"]),
    ("FuzzSignatureBaseString", ["OAuth1", "LinkgateCore"]),
    ("FuzzJSONBody", ["LinkgateCore"]),
    ("FuzzPublicKey", ["LinkgateCrypto"]),
    ("FuzzJWTAssertion", ["OAuth2", "LinkgateCore", "LinkgateCrypto"]),
    ("FuzzRedirectURI", ["LinkgateCore"]),
    ("FuzzCIDR", ["LinkgateCore"]),
]

let package = Package(
    name: "LinkgateFuzz",
    platforms: [.macOS(.v15)],
    targets: [
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto"),
        .target(name: "LinkgateCrypto", dependencies: ["CLibCrypto"], swiftSettings: testable),
        .target(name: "LinkgateCore", dependencies: ["LinkgateCrypto"], swiftSettings: testable),
        .target(name: "OAuth2", dependencies: ["LinkgateCore", "LinkgateCrypto"], swiftSettings: testable),
        .target(name: "OAuth1", dependencies: ["LinkgateCore", "LinkgateCrypto"], swiftSettings: testable),
        .target(name: "FuzzSupport"),
    ] + fuzzTargets.map { target in
        .executableTarget(name: target.name, dependencies: target.dependencies + ["FuzzSupport"], path: "Targets/\(target.name)")
    }
)
