// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Linkgate",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "linkgate", targets: ["linkgate"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // System OpenSSL 3 libcrypto (EVP APIs only).
        .systemLibrary(
            name: "CLibCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(name: "LinkgateCrypto", dependencies: ["CLibCrypto"]),
        // The system OpenLDAP client library (libldap 2.5), loaded with dlopen at run time: only the
        // runtime library is needed, not libldap-dev's headers (the shim declares what it uses).
        .target(name: "CLDAP", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "LinkgateCore", dependencies: ["LinkgateCrypto"]),
        // INTERFACE §15 metric families, through swift-metrics (the executable bootstraps Prometheus).
        .target(name: "LinkgateMetrics", dependencies: [.product(name: "CoreMetrics", package: "swift-metrics")]),
        .target(name: "OAuth2", dependencies: ["LinkgateCore", "LinkgateCrypto"]),
        .target(name: "OAuth1", dependencies: ["LinkgateCore", "LinkgateCrypto"]),
        // What both stores share: record mapping from rows, the entity cache, store-side rules.
        .target(name: "LinkgateStoreKit", dependencies: ["LinkgateCore", "OAuth2", "OAuth1"]),
        .target(
            name: "LinkgateSQLite",
            dependencies: [
                "LinkgateCore", "OAuth2", "OAuth1", "LinkgateStoreKit", "LinkgateMetrics", .product(name: "GRDB", package: "GRDB.swift"),
                // The SQLite C API, for the store's own point-read connections (PointReaders).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        .target(
            name: "LinkgatePostgres",
            dependencies: [
                "LinkgateCore", "LinkgateCrypto", "OAuth2", "OAuth1", "LinkgateStoreKit", "LinkgateMetrics",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The LDAP directory behind LinkgateCore's UserDirectory (INTERFACE §13).
        .target(
            name: "LinkgateLDAP",
            dependencies: ["CLDAP", "LinkgateCore", .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .target(
            name: "LinkgateServer",
            dependencies: [
                "LinkgateCore", "LinkgateCrypto", "OAuth2", "OAuth1", "LinkgateMetrics",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ]
        ),
        .executableTarget(
            name: "linkgate",
            dependencies: [
                "LinkgateServer", "LinkgateSQLite", "LinkgatePostgres", "LinkgateLDAP", "LinkgateCore", "LinkgateCrypto", "LinkgateMetrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "LinkgateCryptoTests", dependencies: ["LinkgateCrypto"]),
        .testTarget(name: "LinkgateCoreTests", dependencies: ["LinkgateCore"]),
        .testTarget(name: "LinkgateLDAPTests", dependencies: ["LinkgateLDAP", "LinkgateCore"]),
        .testTarget(name: "OAuth2Tests", dependencies: ["OAuth2", "LinkgateCore", "LinkgateSQLite", "StoreTestSupport"]),
        .testTarget(name: "OAuth1Tests", dependencies: ["OAuth1", "LinkgateCore", "LinkgateCrypto", "LinkgateSQLite", "StoreTestSupport"]),
        // Opens a fresh store of either kind for the store-level suites.
        .target(
            name: "StoreTestSupport",
            dependencies: ["LinkgateSQLite", "LinkgatePostgres", "LinkgateCore", "LinkgateCrypto", "OAuth2", "OAuth1",
                           .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/StoreTestSupport"
        ),
        .testTarget(name: "LinkgateSQLiteTests", dependencies: ["LinkgateSQLite", "LinkgatePostgres", "StoreTestSupport", "LinkgateCore", "OAuth2", "OAuth1",
                                                                         .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(
            name: "LinkgateServerTests",
            dependencies: [
                "LinkgateServer", "LinkgateSQLite", "LinkgateCore", "OAuth2", "OAuth1",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ]
        ),
    ]
)
