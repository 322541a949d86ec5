import LinkgateCore

/// The `oauth_*` parameters of a request, gathered from the `Authorization: OAuth` header, the
/// query and a form body (RFC 5849 §3.5), with every parameter kept for the base string.
public struct ProtocolParameters: Sendable, Equatable {
    public let consumerKey: String
    /// Empty or absent for two-legged requests.
    public let token: String?
    public let signatureMethod: String
    public let signature: String
    public let timestamp: Int64
    public let nonce: String
    public let callback: String?
    public let verifier: String?
    /// `xoauth_requestor_id`: the user a two-legged request impersonates.
    public let requestorId: String?
    /// Every parameter but `oauth_signature` and `realm`, for the signature base string.
    public let signedParameters: [Pair]

    public struct Pair: Sendable, Equatable {
        public let name: String
        public let value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    static let required = ["oauth_consumer_key", "oauth_signature_method", "oauth_signature", "oauth_timestamp", "oauth_nonce"]

    /// Collects and checks the parameters (RFC 5849 §3.5, §3.1): each protocol parameter at
    /// most once across all sources, `oauth_version` 1.0 if present, RSA-SHA1 only, required ones present.
    public static func collect(_ request: SignedRequest) throws(OAuth1Problem) -> ProtocolParameters {
        var all: [(name: String, value: String)] = []
        if let header = request.authorization {
            all += try parseAuthorizationHeader(header)
        }
        all += request.query
        all += request.form

        var protocolValues: [String: String] = [:]
        for pair in all where pair.name.hasPrefix("oauth_") || pair.name == "xoauth_requestor_id" {
            guard protocolValues[pair.name] == nil else {
                throw OAuth1Problem(.parameterRejected, "the protocol parameter \(pair.name.prefix(40)) appears more than once",
                                    parameters: [("oauth_parameters_rejected", String(pair.name.prefix(40)))])
            }
            protocolValues[pair.name] = pair.value
        }
        if let version = protocolValues["oauth_version"], version != "1.0" {
            throw OAuth1Problem(.versionRejected, "oauth_version must be 1.0", parameters: [("oauth_acceptable_versions", "1.0-1.0")])
        }
        let absent = required.filter { (protocolValues[$0] ?? "").isEmpty }
        if let method = protocolValues["oauth_signature_method"], !method.isEmpty, method != "RSA-SHA1" {
            throw OAuth1Problem(.signatureMethodRejected, "only RSA-SHA1 signatures are accepted",
                                parameters: [("oauth_acceptable_signature_methods", "RSA-SHA1")])
        }
        guard absent.isEmpty else {
            throw OAuth1Problem(.parameterAbsent, "missing \(absent.joined(separator: ", "))",
                                parameters: [("oauth_parameters_absent", absent.joined(separator: "&"))])
        }
        let timestampText = protocolValues["oauth_timestamp"]!
        guard timestampText.count <= 12, timestampText.allSatisfy({ $0.isASCII && $0.isNumber }), let timestamp = Int64(timestampText) else {
            throw OAuth1Problem(.parameterRejected, "oauth_timestamp must be a number of seconds",
                                parameters: [("oauth_parameters_rejected", "oauth_timestamp")])
        }
        let nonce = protocolValues["oauth_nonce"]!
        guard nonce.utf8.count <= 256 else {
            throw OAuth1Problem(.parameterRejected, "oauth_nonce is too long", parameters: [("oauth_parameters_rejected", "oauth_nonce")])
        }
        return ProtocolParameters(
            consumerKey: protocolValues["oauth_consumer_key"]!, token: protocolValues["oauth_token"].flatMap { $0.isEmpty ? nil : $0 },
            signatureMethod: protocolValues["oauth_signature_method"]!, signature: protocolValues["oauth_signature"]!,
            timestamp: timestamp, nonce: nonce, callback: protocolValues["oauth_callback"], verifier: protocolValues["oauth_verifier"],
            requestorId: protocolValues["xoauth_requestor_id"].flatMap { $0.isEmpty ? nil : $0 },
            signedParameters: all.filter { $0.name != "oauth_signature" }.map { Pair(name: $0.name, value: $0.value) })
    }

    /// Parses `OAuth realm="…", oauth_consumer_key="…", …` (RFC 5849 §3.5.1). Values are
    /// percent-decoded; `realm` is dropped (§3.4.1.3.1).
    static func parseAuthorizationHeader(_ header: String) throws(OAuth1Problem) -> [(name: String, value: String)] {
        let trimmed = header.drop(while: { $0 == " " })
        guard trimmed.lowercased().hasPrefix("oauth ") || trimmed.lowercased() == "oauth" else { return [] }
        var rest = trimmed.dropFirst(5)
        var pairs: [(name: String, value: String)] = []
        func malformed() -> OAuth1Problem {
            OAuth1Problem(.parameterRejected, "the Authorization header is malformed", parameters: [("oauth_parameters_rejected", "Authorization")])
        }
        while true {
            rest = rest.drop(while: { $0 == " " || $0 == "," || $0 == "\t" })
            if rest.isEmpty { break }
            guard let eq = rest.firstIndex(of: "=") else { throw malformed() }
            let name = rest[..<eq].trimmingCharacters(in: " ")
            rest = rest[rest.index(after: eq)...].drop(while: { $0 == " " })
            let rawValue: Substring
            if rest.first == "\"" {
                rest = rest.dropFirst()
                guard let close = rest.firstIndex(of: "\"") else { throw malformed() }
                rawValue = rest[..<close]
                rest = rest[rest.index(after: close)...]
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                rawValue = rest[..<end].trimmingCharacters(in: " ")
                rest = rest[end...]
            }
            guard !name.isEmpty, let decodedName = PercentEncoding.decode(name), let value = PercentEncoding.decode(rawValue) else {
                throw malformed()
            }
            if decodedName != "realm" { pairs.append((decodedName, value)) }
        }
        return pairs
    }
}
