import LinkgateCore
import LinkgateCrypto

/// Token revocation (RFC 7009 §2.1): the authenticated client revokes one of its own tokens.
/// A refresh token takes the tokens of its grant with it. Unknown tokens, and tokens of
/// other clients, are answered the same way (§2.2), so the endpoint reveals nothing.
struct Revocation: Sendable {
    let grants: any OAuth2GrantStore

    /// Returns whether a token was revoked (for the audit log; the response is the same either way).
    func revoke(_ params: OAuthParameters, client: OAuth2Client, now: Int64) async throws -> Bool {
        let token = try params.required("token")
        // token_type_hint is optional and only a hint (§2.1); an unknown one is ignored.
        _ = try params.single("token_type_hint")
        guard token.utf8.count <= 256 else { return false }
        return try await grants.revokeToken(digest: Digest.tokenKey(of: token), clientId: client.clientId, now: now)
    }
}
