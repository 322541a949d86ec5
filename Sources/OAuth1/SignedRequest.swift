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
}
