import LinkgateCore
import LinkgateCrypto

/// A compact JWS (RFC 7515 §7.1) carrying a JWT assertion (RFC 7523), parsed strictly.
/// Only `RS256` is accepted; `none`, `HS256` and everything else are refused.
struct JWTAssertion: Sendable {
    /// Larger assertions are refused before any parsing.
    static let maximumLength = 8192

    let signingInput: [UInt8]
    let signature: [UInt8]
    let algorithm: String
    let claims: [String: JSONClaim]

    enum JSONClaim: Sendable, Equatable {
        case string(String)
        case number(Double)
        case strings([String])
        case other
    }

    static func parse(_ text: String) throws(OAuthError) -> JWTAssertion {
        guard text.utf8.count <= maximumLength else { throw .invalidRequest("the assertion is larger than \(maximumLength) bytes") }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]), let payloadBytes = Base64URL.decode(parts[1]),
              let signature = Base64URL.decode(parts[2]) else {
            throw .invalidGrant("the assertion is not a compact JWS (three base64url parts)")
        }
        guard let header = JSONValue.parse(headerBytes)?.objectMembers, let payload = JSONValue.parse(payloadBytes)?.objectMembers else {
            throw .invalidGrant("the assertion's header or claims are not a JSON object")
        }
        guard case .string(let alg)? = header["alg"] else { throw .invalidGrant("the assertion has no alg") }
        guard alg == "RS256" else { throw .invalidGrant("assertion alg '\(alg.prefix(20))' is not accepted; use RS256") }
        if header["crit"] != nil { throw .invalidGrant("critical JWS header extensions are not supported") }
        var claims: [String: JSONClaim] = [:]
        for (key, value) in payload {
            switch value {
            case .string(let s): claims[key] = .string(s)
            case .number(let n): claims[key] = .number(n)
            case .array(let items):
                let strings = items.compactMap { if case .string(let s) = $0 { s } else { nil } }
                claims[key] = strings.count == items.count ? .strings(strings) : .other
            default: claims[key] = .other
            }
        }
        return JWTAssertion(signingInput: Array((parts[0] + "." + parts[1]).utf8), signature: signature, algorithm: alg, claims: claims)
    }

    func string(_ name: String) -> String? {
        if case .string(let s) = claims[name] { return s }
        return nil
    }

    func number(_ name: String) -> Int64? {
        if case .number(let n) = claims[name], n.isFinite, abs(n) < 1e15 { return Int64(n) }
        return nil
    }

    /// `aud` as a list (RFC 7519 §4.1.3: a string or an array of strings).
    var audiences: [String] {
        switch claims["aud"] {
        case .string(let s): [s]
        case .strings(let a): a
        default: []
        }
    }

    func verify(with key: RSAPublicKey) -> Bool {
        key.verify(signature: signature, message: signingInput, digest: .sha256)
    }
}
