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
    /// most once across all sources, `oauth_version` 1.0 if present, required ones present. The
    /// signature method is judged by ``RequestVerifier`` against the consumer's own list.
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
        guard absent.isEmpty else {
            throw OAuth1Problem(.parameterAbsent, "missing \(absent.joined(separator: ", "))",
                                parameters: [("oauth_parameters_absent", absent.joined(separator: "&"))])
        }
        let timestampText = protocolValues["oauth_timestamp"]!
        guard timestampText.utf8.count <= 12, timestampText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let timestamp = Int64(timestampText) else {
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
        // On the header's bytes: every signed request comes through here.
        let bytes = Array(header.utf8)
        let space = UInt8(ascii: " "), comma = UInt8(ascii: ","), tab = UInt8(ascii: "\t"), quote = UInt8(ascii: "\"")
        func malformed() -> OAuth1Problem {
            OAuth1Problem(.parameterRejected, "the Authorization header is malformed", parameters: [("oauth_parameters_rejected", "Authorization")])
        }
        func trimmed(_ slice: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
            let start = slice.firstIndex { $0 != space } ?? slice.endIndex
            let end = slice.lastIndex { $0 != space }.map { $0 + 1 } ?? start
            return slice[start..<max(start, end)]
        }
        var i = bytes.firstIndex { $0 != space } ?? bytes.endIndex
        // The scheme, case-insensitively, followed by a space or nothing.
        let scheme = Array("oauth".utf8)
        guard bytes.count - i >= 5, (0..<5).allSatisfy({ bytes[i + $0] | 0x20 == scheme[$0] }),
              bytes.count - i == 5 || bytes[i + 5] == space else { return [] }
        i += 5
        var pairs: [(name: String, value: String)] = []
        while true {
            while i < bytes.count, bytes[i] == space || bytes[i] == comma || bytes[i] == tab { i += 1 }
            if i == bytes.count { break }
            guard let eq = bytes[i...].firstIndex(of: UInt8(ascii: "=")) else { throw malformed() }
            let name = trimmed(bytes[i..<eq])
            i = eq + 1
            while i < bytes.count, bytes[i] == space { i += 1 }
            let rawValue: ArraySlice<UInt8>
            if i < bytes.count, bytes[i] == quote {
                guard let close = bytes[(i + 1)...].firstIndex(of: quote) else { throw malformed() }
                rawValue = bytes[(i + 1)..<close]
                i = close + 1
            } else {
                let end = bytes[i...].firstIndex(of: comma) ?? bytes.endIndex
                rawValue = trimmed(bytes[i..<end])
                i = end
            }
            guard !name.isEmpty, let decodedName = PercentEncoding.decode(bytes: name), let value = PercentEncoding.decode(bytes: rawValue) else {
                throw malformed()
            }
            if decodedName != "realm" { pairs.append((decodedName, value)) }
        }
        return pairs
    }
}
