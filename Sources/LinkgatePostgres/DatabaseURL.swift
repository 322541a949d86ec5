import Foundation

/// A PostgreSQL location given as `postgres://user:password@host:port/dbname?sslmode=…&host=/socket/dir`
/// (also `postgresql://`), as INTERFACE §11 and libpq spell it.
public struct DatabaseURL: Sendable, Equatable {
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public var user: String
    public var password: String?
    /// TCP host; nil when `socketDirectory` is set.
    public var host: String?
    public var port: Int
    /// Directory holding the server's Unix socket (`?host=/path`); the socket is `.s.PGSQL.<port>` in it.
    public var socketDirectory: String?
    public var database: String
    public var tls: TLSMode

    /// Whether `text` names a PostgreSQL database rather than a SQLite file.
    public static func isPostgres(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// Parses `text`; the error says what is wrong without repeating the password.
    public init(_ text: String) throws(DatabaseURLError) {
        guard Self.isPostgres(text), let components = URLComponents(string: text) else {
            throw DatabaseURLError("not a postgres:// URL")
        }
        guard let user = components.percentEncodedUser.flatMap({ $0.removingPercentEncoding }), !user.isEmpty else {
            throw DatabaseURLError("no user name (postgres://USER:PASSWORD@HOST:PORT/DBNAME)")
        }
        self.user = user
        password = components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw DatabaseURLError("port \(port) is out of range") }
        let path = components.percentEncodedPath.removingPercentEncoding ?? ""
        database = path.hasPrefix("/") ? String(path.dropFirst()) : path
        guard !database.isEmpty, !database.contains("/") else { throw DatabaseURLError("no database name after the host (…/DBNAME)") }
        var tls = TLSMode.prefer
        var socketDirectory: String?
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                // libpq's allow/verify-ca/verify-full map onto the nearest mode postgres-nio offers.
                switch item.value ?? "" {
                case "disable", "allow": tls = .disable
                case "prefer": tls = .prefer
                case "require", "verify-ca", "verify-full": tls = .require
                default: throw DatabaseURLError("sslmode must be disable, prefer or require")
                }
            case "host":
                guard let directory = item.value, directory.hasPrefix("/") else {
                    throw DatabaseURLError("host= must be an absolute socket directory")
                }
                socketDirectory = directory
            case "application_name", "connect_timeout":
                continue
            default:
                throw DatabaseURLError("unknown parameter '\(item.name)' (known: sslmode, host)")
            }
        }
        self.tls = tls
        self.socketDirectory = socketDirectory
        let host = components.host.flatMap { $0.isEmpty ? nil : $0 }
        guard host != nil || socketDirectory != nil else { throw DatabaseURLError("no host") }
        // Bracketed IPv6 literals arrive with their brackets from URLComponents.
        self.host = host.map { $0.hasPrefix("[") && $0.hasSuffix("]") ? String($0.dropFirst().dropLast()) : $0 }
        if socketDirectory != nil { self.host = nil }
    }

    /// The location without the password, for logs and the console.
    public var redacted: String {
        let place = socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } ?? "\(host ?? ""):\(port)"
        return "postgres://\(user)@\(place)/\(database)"
    }
}

public struct DatabaseURLError: Error, CustomStringConvertible, Equatable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "invalid database URL: \(reason)" }
}
