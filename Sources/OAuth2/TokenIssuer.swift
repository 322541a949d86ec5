import LinkgateCore
import LinkgateCrypto

/// The body of a successful token response (RFC 6749 §5.1).
public struct TokenResponse: Sendable, Equatable {
    public let accessToken: String
    public let expiresIn: Int64
    public let refreshToken: String?
    public let scope: Scope
    /// Whose the token is (INTERFACE §8); not sent to the client, counted in metrics (§15).
    public let mode: TokenMode
}

/// Mints tokens: 256 random bits each, stored only under their SHA-256 digest.
struct TokenIssuer: Sendable {
    let config: OAuth2Config

    struct Minted {
        let records: [TokenRecord]
        let response: TokenResponse
    }

    /// Fresh tokens and their records.
    func mint(familyId: String, clientId: String, userName: String?, scope: Scope, mode: TokenMode,
              withRefreshToken: Bool, now: Int64) -> Minted {
        let access = SecureRandom.token()
        let refresh = withRefreshToken ? SecureRandom.token() : nil
        let records = self.records(access: access, refresh: refresh, familyId: familyId, clientId: clientId, userName: userName,
                                   accessScope: scope, refreshScope: scope, mode: mode, now: now)
        return Minted(records: records, response: response(access: access, refresh: refresh, scope: scope, mode: mode))
    }

    /// Records for already generated token values.
    func records(access: String, refresh: String?, familyId: String, clientId: String, userName: String?,
                 accessScope: Scope, refreshScope: Scope, mode: TokenMode, now: Int64) -> [TokenRecord] {
        var records = [TokenRecord(digest: Digest.storageDigest(of: access), kind: .access, familyId: familyId, clientId: clientId,
                                   userName: userName, scope: accessScope, mode: mode, issuedAt: now,
                                   expiresAt: now + config.accessTokenLifetime)]
        if let refresh {
            records.append(TokenRecord(digest: Digest.storageDigest(of: refresh), kind: .refresh, familyId: familyId, clientId: clientId,
                                       userName: userName, scope: refreshScope, mode: mode, issuedAt: now,
                                       expiresAt: now + config.refreshTokenLifetime))
        }
        return records
    }

    func response(access: String, refresh: String?, scope: Scope, mode: TokenMode) -> TokenResponse {
        TokenResponse(accessToken: access, expiresIn: config.accessTokenLifetime, refreshToken: refresh, scope: scope, mode: mode)
    }
}
