import LinkgateCore
/// An HTTP request as OAuth 1.0 sees it, free of any HTTP framework.
public struct SignedRequest: Sendable {
    /// The HTTP method, e.g. `GET`.
    public let method: String
    /// The base-string URI (RFC 5849 §3.4.1.2): scheme, host, port and path, no query. Built from
    /// the configured base URL, never from the Host header.
    public let baseStringURI: String
    /// The `Authorization` header value, if any.
    public let authorization: String?
    /// Query parameters, decoded, in order.
    public let query: [(name: String, value: String)]
    /// Form body parameters (only for `application/x-www-form-urlencoded` bodies), decoded.
    public let form: [(name: String, value: String)]
    /// The client's address, checked against the consumer's `allowedAddresses` (INTERFACE §10); nil: unknown.
    public let clientAddress: IPAddress?

    public init(method: String, baseStringURI: String, authorization: String?, query: [(name: String, value: String)],
                form: [(name: String, value: String)] = [], clientAddress: IPAddress? = nil) {
        self.method = method
        self.baseStringURI = baseStringURI
        self.authorization = authorization
        self.query = query
        self.form = form
        self.clientAddress = clientAddress
    }

    /// The base-string URI for `path` under `base` (RFC 5849 §3.4.1.2): scheme and host in
    /// lowercase, the default port left out.
    public static func baseStringURI(base: String, path: String) -> String {
        normalize(base + path)
    }

    /// Normalises an absolute URL for the base string; drops any query or fragment.
    public static func normalize(_ url: String) -> String {
        // Every signed request comes through here, with a URL that is usually normal already.
        if isNormal(url) { return url }
        guard let schemeEnd = url.firstRange(of: "://") else { return url }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        var rest = url[schemeEnd.upperBound...]
        if let cut = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<cut] }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<slash].lowercased()
        let path = rest[slash...].isEmpty ? "/" : String(rest[slash...])
        if (scheme == "http" && authority.hasSuffix(":80")) || (scheme == "https" && authority.hasSuffix(":443")) {
            authority = String(authority[..<authority.lastIndex(of: ":")!])
        }
        return scheme + "://" + authority + path
    }

    /// Whether `normalize` would return `url` as it is: ASCII, a lowercase scheme and
    /// authority, no default port, a path, and no query or fragment. One pass over the bytes.
    static func isNormal(_ url: String) -> Bool {
        let bytes = url.utf8
        guard bytes.allSatisfy({ $0 < 0x80 && $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }),
              let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return false }
        let scheme = bytes[..<colon]
        let rest = bytes[bytes.index(after: colon)...]
        guard !scheme.isEmpty, rest.starts(with: "//".utf8) else { return false }
        let authorityStart = rest.index(rest.startIndex, offsetBy: 2)
        guard let slash = rest[authorityStart...].firstIndex(of: UInt8(ascii: "/")) else { return false }
        let authority = rest[authorityStart..<slash]
        let isUpper = { (byte: UInt8) in byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") }
        guard !scheme.contains(where: isUpper), !authority.contains(where: isUpper) else { return false }
        if scheme.elementsEqual("http".utf8) && authority.reversed().starts(with: "08:".utf8) { return false }
        if scheme.elementsEqual("https".utf8) && authority.reversed().starts(with: "344:".utf8) { return false }
        return true
    }
}
