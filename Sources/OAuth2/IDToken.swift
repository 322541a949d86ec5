import LinkgateCore
import LinkgateCrypto

/// One RSA key the provider signs id_tokens with (RFC 7517 §4, RFC 7638): `kid` is the key's
/// JWK thumbprint, so it names the key and nothing else.
public struct SigningKey: Sendable {
    public let kid: String
    let privateKey: RSAPrivateKey
    /// base64url of the modulus and the public exponent (RFC 7518 §6.3.1).
    public let modulus: String
    public let exponent: String
    /// When a rotation added the key (epoch seconds); nil for the first key, made before any rotation.
    public let createdAt: Int64?

    public init(privateKey: RSAPrivateKey, createdAt: Int64? = nil) throws {
        let (n, e) = try privateKey.publicKey().components()
        self.privateKey = privateKey
        self.createdAt = createdAt
        modulus = Base64URL.encode(n)
        exponent = Base64URL.encode(e)
        kid = Self.thumbprint(modulus: modulus, exponent: exponent)
    }

    /// RFC 7638 §3: SHA-256 of the required members in lexicographic order, no whitespace.
    public static func thumbprint(modulus: String, exponent: String) -> String {
        let canonical = JSONValue.object(["e": .string(exponent), "kty": .string("RSA"), "n": .string(modulus)]).serialized()
        return Base64URL.encode(Digest.sha256(canonical))
    }

    /// The public key as a JWK (RFC 7517 §4) for the JWKS document.
    public var jwk: JSONValue {
        .object(["kty": .string("RSA"), "use": .string("sig"), "alg": .string("RS256"), "kid": .string(kid),
                 "n": .string(modulus), "e": .string(exponent)])
    }
}

/// The provider's signing keys, oldest first (INTERFACE §14): id_tokens are signed with the
/// newest; the JWKS publishes the newest and every older key until all id_tokens it signed have
/// expired. The first is §7's consumer-info key.
public struct SigningKeys: Sendable {
    public let keys: [SigningKey]

    /// Added to an old key's last possible id_token expiry before the JWKS drops it: the nodes
    /// pick up a rotation up to 60 s late (and sign with the old key until then), and relying
    /// parties' clocks may run behind (OIDC Core §3.1.3.7 lets them allow for skew).
    public static let retirementMargin: Int64 = 300

    public init(_ keys: [SigningKey]) {
        precondition(!keys.isEmpty, "at least one signing key")
        self.keys = keys
    }

    /// The key new id_tokens are signed with.
    public var current: SigningKey { keys[keys.count - 1] }

    /// The keys the JWKS publishes at `now` when id_tokens live `tokenLifetime` seconds: the
    /// newest, and each older key while an id_token it signed may still be valid. A key was
    /// superseded when the next one was added, so its last id_token expires `tokenLifetime` later.
    public func published(at now: Int64, tokenLifetime: Int64) -> [SigningKey] {
        keys.indices.compactMap { index in
            guard index < keys.count - 1, let supersededAt = keys[index + 1].createdAt else { return keys[index] }
            return now < supersededAt + tokenLifetime + Self.retirementMargin ? keys[index] : nil
        }
    }
}

/// Where the authorization server finds its signing keys (they may still be generated when it starts).
public typealias SigningKeySource = @Sendable () async throws -> SigningKeys

/// The OpenID Connect ID Token (OIDC Core §2, §3.1.3.6) as a JWS Compact Serialization with
/// RS256 (RFC 7515 §7.1, RFC 7518 §3.3).
public enum IDToken {
    /// The claims of an id_token for `user`, issued to `clientId` together with `accessToken`.
    /// `auth_time` is the login's time (kept through refreshes), `nonce` only when the
    /// authorize request had one; `name` and `preferred_username` with `profile`, `email` with
    /// `email` when the user has one (INTERFACE §14).
    public static func claims(issuer: String, user: User, clientId: String, openID: OpenIDScope, authTime: Int64?, nonce: String?,
                              accessToken: String, issuedAt: Int64, lifetime: Int64) -> [String: JSONValue] {
        var claims: [String: JSONValue] = [
            "iss": .string(issuer), "sub": .string(user.name), "aud": .string(clientId),
            "iat": .number(Double(issuedAt)), "exp": .number(Double(issuedAt + lifetime)),
            "at_hash": .string(accessTokenHash(accessToken)),
        ]
        if let authTime { claims["auth_time"] = .number(Double(authTime)) }
        if let nonce { claims["nonce"] = .string(nonce) }
        for (name, value) in UserInfo.claims(user: user, openID: openID) where name != "sub" { claims[name] = value }
        return claims
    }

    /// OIDC Core §3.1.3.6: base64url of the left-most half of the SHA-256 of the access token's ASCII.
    public static func accessTokenHash(_ accessToken: String) -> String {
        let digest = Digest.sha256(accessToken)
        return Base64URL.encode(Array(digest.prefix(digest.count / 2)))
    }

    /// `header.payload.signature`, RS256 with `key` (RFC 7515 §5.1); `kid` names the key.
    public static func sign(_ claims: [String: JSONValue], with key: SigningKey) throws -> String {
        let header = JSONValue.object(["alg": .string("RS256"), "typ": .string("JWT"), "kid": .string(key.kid)]).serializedBytes()
        let signingInput = Base64URL.encode(header) + "." + Base64URL.encode(JSONValue.object(claims).serializedBytes())
        let signature = try key.privateKey.sign(message: Array(signingInput.utf8), digest: .sha256)
        return signingInput + "." + Base64URL.encode(signature)
    }
}

/// The UserInfo response's claims (OIDC Core §5.3.2) for the token's OpenID values.
public enum UserInfo {
    public static func claims(user: User, openID: OpenIDScope) -> [String: JSONValue] {
        var claims: [String: JSONValue] = ["sub": .string(user.name)]
        if openID.profile {
            claims["name"] = .string(user.displayName)
            claims["preferred_username"] = .string(user.name)
        }
        // Omitted, not null, when the user has no e-mail address (OIDC Core §5.3.2).
        if openID.email, let email = user.email, !email.isEmpty { claims["email"] = .string(email) }
        return claims
    }
}
