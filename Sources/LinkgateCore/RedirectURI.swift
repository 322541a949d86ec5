/// Redirect URI registration rules (INTERFACE §5, RFC 6749 §3.1.2, RFC 9700 §4.1):
/// absolute; no fragment (a bare trailing `#` counts); no user info; `https`, or `http` only
/// on a loopback host (`127.0.0.1`, `[::1]`, `localhost`). Matching at authorize time is
/// exact string comparison, so the registered text is kept byte for byte.
public enum RedirectURI {
    public static let maximumLength = 2048
    public static let maximumCount = 20

    public static let loopbackHosts: Set<String> = ["127.0.0.1", "[::1]", "localhost"]

    /// Validates one URI; the error message says what is wrong with it.
    public static func validate(_ uri: String, field: String = "redirects") throws {
        func reject(_ why: String) -> ValidationError { ValidationError(field, "'\(uri.prefix(100))' \(why)") }
        let bytes = Array(uri.utf8)
        guard !bytes.isEmpty, bytes.count <= maximumLength else {
            throw ValidationError(field, "each redirect URI must be 1 to \(maximumLength) characters")
        }
        // Printable ASCII only: no spaces, controls, quotes or angle brackets.
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !"\"<>\\^`{|}".utf8.contains($0) }) else {
            throw reject("contains characters that are not allowed in a URI")
        }
        guard !bytes.contains(UInt8(ascii: "#")) else { throw reject("must not have a fragment") }
        guard let schemeEnd = uri.firstRange(of: "://") else { throw reject("must be an absolute https URL") }
        let scheme = uri[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "https" || scheme == "http" else { throw reject("must use https (or http on a loopback host)") }
        let afterScheme = uri[schemeEnd.upperBound...]
        let authority = afterScheme.prefix(while: { $0 != "/" && $0 != "?" })
        guard !authority.isEmpty else { throw reject("has no host") }
        guard !authority.contains("@") else { throw reject("must not contain user information") }
        let (host, port) = splitHostPort(authority)
        guard let host, isValidHost(host) else { throw reject("has an invalid host") }
        if let port {
            guard !port.isEmpty, port.count <= 5, port.allSatisfy({ $0.isASCIIDigit }), let n = Int(port), (1...65535).contains(n)
            else { throw reject("has an invalid port") }
        }
        if scheme == "http" && !loopbackHosts.contains(host.lowercased()) {
            throw reject("may use http only on a loopback host (127.0.0.1, [::1], localhost); use https")
        }
    }

    /// Validates a list: each URI, at most `maximumCount`, no duplicates. An empty list is
    /// allowed (a client that uses only two-legged grants).
    public static func validate(list: [String], field: String = "redirects") throws {
        guard list.count <= maximumCount else { throw ValidationError(field, "at most \(maximumCount) redirect URIs") }
        for uri in list { try validate(uri, field: field) }
        guard Set(list).count == list.count else { throw ValidationError(field, "must not contain duplicates") }
    }

    private static func splitHostPort(_ authority: Substring) -> (String?, Substring?) {
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return (nil, nil) }
            let host = String(authority[...close])
            let rest = authority[authority.index(after: close)...]
            if rest.isEmpty { return (host, nil) }
            guard rest.hasPrefix(":") else { return (nil, nil) }
            return (host, rest.dropFirst())
        }
        let parts = authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        return (String(parts[0]), parts.count == 2 ? parts[1] : nil)
    }

    private static func isValidHost(_ host: String) -> Bool {
        if host.hasPrefix("[") {
            // IP literal (RFC 3986 §3.2.2): a valid IPv6 address between the brackets.
            return host.hasSuffix("]") && IPAddress(host.dropFirst().dropLast())?.family == .ipv6
        }
        guard !host.isEmpty, host.count <= 253, !host.hasPrefix("."), !host.hasPrefix("-") else { return false }
        return host.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "." }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
