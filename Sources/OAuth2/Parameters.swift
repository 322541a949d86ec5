/// Request parameters as decoded name/value pairs, in order, duplicates kept.
public struct OAuthParameters: Sendable {
    public let pairs: [(name: String, value: String)]

    public init(_ pairs: [(name: String, value: String)]) {
        self.pairs = pairs
    }

    /// The single value of `name`, nil when absent; a repeated parameter is `invalid_request`
    /// (RFC 6749 §3.1, §3.2). An empty value counts as absent (RFC 6749 §3.1).
    public func single(_ name: String) throws(OAuthError) -> String? {
        var found: String? = nil
        for pair in pairs where pair.name == name {
            guard found == nil else { throw .invalidRequest("parameter '\(name)' is repeated") }
            found = pair.value
        }
        return found?.isEmpty == true ? nil : found
    }

    public func required(_ name: String) throws(OAuthError) -> String {
        guard let value = try single(name) else { throw .invalidRequest("parameter '\(name)' is required") }
        return value
    }

    public func contains(_ name: String) -> Bool { pairs.contains { $0.name == name } }
}
