/// A token request's claim on an authorization code, and the tokens the code becomes if the claim
/// holds (RFC 6749 §4.1.3, RFC 7636 §4.6).
///
/// A store either reads the code and asks `check`, or (PostgreSQL, to spare a round trip) spends it
/// in one statement whose WHERE clause compares the code's columns with `redirectURI` and
/// `acceptedChallenges`: `matches` is that comparison, and tests hold it equal to `check`.
public struct CodeClaim: Sendable {
    /// The token request's `redirect_uri`: the code's must be the same one (nil matches none).
    public let redirectURI: String?
    let proof: PKCE.Proof?
    /// The access and refresh token, minted before the store operation.
    public let tokens: [TokenDraft]

    public init(redirectURI: String?, proof: PKCE.Proof?, tokens: [TokenDraft]) {
        self.redirectURI = redirectURI
        self.proof = proof
        self.tokens = tokens
    }

    /// Throws the `invalid_grant` that says why the claim fails on `code`.
    public func check(_ code: AuthorizationCodeRecord) throws {
        guard redirectURI == code.redirectURI else {
            throw OAuthError.invalidGrant("redirect_uri does not match the authorization request")
        }
        switch (code.codeChallenge, code.codeChallengeMethod, proof) {
        case (nil, _, nil):
            break
        case (nil, _, .some):
            // RFC 9700 §2.1.1: a verifier without a challenge is a PKCE downgrade attempt.
            throw OAuthError.invalidGrant("code_verifier was sent but the authorization request had no code_challenge")
        case (.some, _, nil):
            throw OAuthError.invalidGrant("code_verifier is required for this code")
        case (.some(let challenge), let method, .some(let proof)):
            // No method at authorize means plain (RFC 7636 §4.3).
            guard proof.answers(challenge, method: method ?? .plain) else {
                throw OAuthError.invalidGrant("code_verifier does not match the code_challenge")
            }
        }
    }

    /// The (code_challenge, code_challenge_method) pairs a code may hold for this claim, "" standing
    /// for a missing value: the verifier's S256 transform or the verifier itself as plain (or with no
    /// method), or, without a verifier, no challenge at all.
    public var acceptedChallenges: [(challenge: String, method: String)] {
        guard let proof else { return [("", ""), ("", PKCE.Method.s256.rawValue), ("", PKCE.Method.plain.rawValue)] }
        return [(proof.s256, PKCE.Method.s256.rawValue), (proof.verifier, PKCE.Method.plain.rawValue), (proof.verifier, "")]
    }

    /// `check` as a comparison of columns, the way a store's statement makes it (not in constant
    /// time: a challenge travels in the authorize request's URL, so its bytes are no secret).
    public func matches(_ code: AuthorizationCodeRecord) -> Bool {
        let held = (code.codeChallenge ?? "", code.codeChallengeMethod?.rawValue ?? "")
        return redirectURI == code.redirectURI && acceptedChallenges.contains { $0 == held }
    }

    /// The tokens as stored: each takes the code's grant (family, client, user, scope, OpenID
    /// values, auth_time) and acts for its user.
    public func tokens(for code: AuthorizationCodeRecord) -> [TokenRecord] {
        tokens.map { $0.record(familyId: code.familyId, clientId: code.clientId, userName: code.userName, scope: code.scope,
                               mode: .user, openID: code.openID, authTime: code.authTime) }
    }
}
