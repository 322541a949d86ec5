import LinkgateCore
import LinkgateCrypto

/// The OAuth 2.0 provider: what the HTTP layer calls, in plain values. Each endpoint is a
/// short list of named steps; each grant lives in its own file.
public struct AuthorizationServer: Sendable {
    public let config: OAuth2Config
    let clients: any OAuth2ClientStore & UserStore
    /// Users as grants and tokens see them: with a user directory, they follow it (INTERFACE §13).
    let users: any UserStore
    let grants: any OAuth2GrantStore
    let clientAuthentication: ClientAuthentication
    let issuer: TokenIssuer
    let idTokens: IDTokenIssuer
    /// The id_token signing keys (INTERFACE §14); nil: OIDC requests fail with `server_error`.
    public let signingKeys: SigningKeySource?
    let registry: ClientRegistry
    let usage: UsageThrottle
    let audit: AuditLog
    let now: @Sendable () -> Int64

    public init(config: OAuth2Config, clients: any OAuth2ClientStore & UserStore, users: (any UserStore)? = nil,
                grants: any OAuth2GrantStore, registry: ClientRegistry, audit: AuditLog, signingKeys: SigningKeySource? = nil,
                now: @escaping @Sendable () -> Int64) {
        self.users = users ?? clients
        self.signingKeys = signingKeys
        self.idTokens = IDTokenIssuer(config: config, keys: signingKeys, users: users ?? clients)
        self.config = config
        self.clients = clients
        self.grants = grants
        self.registry = registry
        self.clientAuthentication = ClientAuthentication(registry: registry, audit: audit, now: now)
        self.issuer = TokenIssuer(config: config)
        self.usage = UsageThrottle()
        self.audit = audit
        self.now = now
    }

    // MARK: Authorization endpoint (RFC 6749 §4.1.1–4.1.2)

    /// Step 1: the client and its exact redirect URI, before anything else.
    public func trustedRedirect(_ params: OAuthParameters) async throws -> TrustedRedirect {
        try await AuthorizeRequest.trustedRedirect(params, clients: clients)
    }

    /// Step 2, once the user is known: everything else.
    public func validate(_ params: OAuthParameters, trusted: TrustedRedirect, user: User) throws(AuthorizeFailure) -> AuthorizationRequest {
        try AuthorizeRequest.validate(params, trusted: trusted, user: user)
    }

    /// Whether the user must be asked: no remembered consent covers the requested scope.
    /// `prompt=consent` asks again (OIDC Core §3.1.2.1).
    public func needsConsent(_ request: AuthorizationRequest, user: User) async throws -> Bool {
        if request.prompt.contains(.consent) { return true }
        guard let consent = try await grants.consent(userName: user.name, clientId: request.client.clientId) else { return true }
        // OIDC: releasing identity claims needs consent to those values too (INTERFACE §14).
        if let wanted = request.openID, !(consent.openID?.covers(wanted) ?? false) { return true }
        return consent.scope < request.scope
    }

    /// The user approved (or had approved): remember it, mint a code, and return the redirect.
    /// `authTime` is when the user logged in (the session's start), for an OIDC request's id_token.
    public func approve(_ request: AuthorizationRequest, user: User, authTime: Int64? = nil) async throws -> String {
        let issued = now()
        _ = try await grants.saveConsent(userName: user.name, clientId: request.client.clientId, scope: request.scope, openID: request.openID,
                                         now: issued)
        let code = SecureRandom.timeOrderedToken()  // its key ascends: see timeOrderedToken
        try await grants.saveCode(AuthorizationCodeRecord(
            digest: Digest.tokenKey(of: code), familyId: SecureRandom.timeOrderedUUID(), clientId: request.client.clientId,
            userName: user.name, redirectURI: request.redirectURI, scope: request.scope, codeChallenge: request.codeChallenge,
            codeChallengeMethod: request.codeChallengeMethod, issuedAt: issued, expiresAt: issued + config.codeLifetime,
            openID: request.openID, nonce: request.openID == nil ? nil : request.nonce, authTime: request.openID == nil ? nil : authTime))
        return AuthorizeRequest.redirect(request.redirectURI, [("code", code), ("state", request.state)])
    }

    /// The user said no (RFC 6749 §4.1.2.1 `access_denied`).
    public func deny(_ request: AuthorizationRequest) -> String {
        AuthorizeRequest.errorRedirect(.init(.accessDenied, "the user denied the request"), redirectURI: request.redirectURI,
                                       state: request.state)
    }

    // MARK: Token endpoint (RFC 6749 §3.2, §4.1.3, §6)

    /// Authenticates the client, then runs the grant. Throws `ClientAuthentication.Failure` or `OAuthError`.
    public func token(_ params: OAuthParameters, authorization: String?, from address: IPAddress? = nil) async throws -> TokenResponse {
        let grantType = try params.single("grant_type")
        let at = now()
        // RFC 7523 §2.1: the assertion itself authenticates the client.
        if grantType == JWTBearerGrant.grantType {
            return try await JWTBearerGrant(clients: clients, users: users, grants: grants, registry: registry, issuer: issuer, config: config, audit: audit,
                                            clientAuthentication: clientAuthentication)
                .issue(params, authorization: authorization, from: address, now: at)
        }
        let (client, _) = try await clientAuthentication.authenticate(authorization: authorization, params: params, from: address)
        switch grantType {
        case "authorization_code":
            return try await AuthorizationCodeGrant(grants: grants, issuer: issuer, idTokens: idTokens, audit: audit).exchange(params, client: client, now: at)
        case "refresh_token":
            return try await RefreshTokenGrant(grants: grants, users: users, issuer: issuer, idTokens: idTokens, audit: audit).refresh(params, client: client, now: at)
        case "client_credentials":
            return try await ClientCredentialsGrant(grants: grants, users: users, issuer: issuer, audit: audit).issue(params, client: client, now: at)
        case nil:
            throw OAuthError.invalidRequest("grant_type is required")
        case let other?:
            throw OAuthError(.unsupportedGrantType, "grant_type '\(other.prefix(60))' is not supported")
        }
    }

    /// The grant types the token endpoint serves.
    public var grantTypes: [String] { ["authorization_code", "refresh_token", "client_credentials", JWTBearerGrant.grantType] }

    // MARK: Revocation (RFC 7009) and introspection (RFC 7662)

    public func revoke(_ params: OAuthParameters, authorization: String?, from address: IPAddress? = nil) async throws {
        let (client, _) = try await clientAuthentication.authenticate(authorization: authorization, params: params, from: address)
        if try await Revocation(grants: grants).revoke(params, client: client, now: now()) {
            try await audit.record(AuditAction.tokenRevoke, actor: client.clientId, client: client.clientId, detail: "RFC 7009 revocation")
        }
    }

    /// Whether `authorization` is HTTP Basic whose id names a registered client.
    public func namesClient(basic authorization: String?) async throws -> Bool {
        guard let authorization, ClientAuthentication.isBasic(authorization),
              let (id, _) = ClientAuthentication.decodeBasic(authorization) else { return false }
        return try await clients.client(clientId: id) != nil
    }

    /// Authenticates a registered client from the request (for introspection callers).
    public func authenticateClient(_ params: OAuthParameters, authorization: String?, from address: IPAddress? = nil) async throws -> OAuth2Client {
        try await clientAuthentication.authenticate(authorization: authorization, params: params, from: address).0
    }

    public func introspect(_ params: OAuthParameters) async throws -> IntrospectionResult {
        try await Introspection(grants: grants, issuer: config.issuer).introspect(params, now: now())
    }

    // MARK: Client-secret lockouts (INTERFACE §10)

    /// The (client_id, address) and address lockouts in force.
    public func clientLockouts() -> [Lockout] { clientAuthentication.throttle.lockouts(now: now()) }

    /// The client-secret throttle (INTERFACE §10), for sharing its lockouts among nodes.
    public var clientThrottle: FailureThrottle { clientAuthentication.throttle }

    /// Lifts client-secret lockouts of `clientId` and/or `address` (both nil: all), audited as `client.lockout`.
    public func clearClientLockouts(clientId: String?, address: String?, by admin: String) async throws {
        for lockout in clientAuthentication.throttle.clear(user: clientId, address: address, now: now()) {
            try await audit.record(AuditAction.clientLockout, actor: admin, client: lockout.user,
                                   detail: "lockout of \(lockout.user ?? "any client") from \(lockout.address ?? "any address") cleared")
        }
    }

    // MARK: Bearer tokens on resources (RFC 6750)

    /// What a bearer token turned out to be.
    public enum BearerLookup: Sendable {
        /// A live access token and its acting user.
        case live(TokenRecord, User?)
        /// A token its client revoked (kept until it expires, so the use can be attributed).
        case revoked(TokenRecord)
        /// Unknown, expired, not an access token, or its user is gone.
        case invalid
    }

    /// A bearer token presented by the client at `address`; a token of a link restricted to
    /// other addresses is refused (INTERFACE §10) and the refusal audited.
    public func bearer(_ token: String, from address: IPAddress? = nil) async throws -> BearerLookup {
        guard token.utf8.count <= 256 else { return .invalid }
        let at = now(), digest = Digest.tokenKey(of: token)
        guard let record = try await grants.liveToken(digest: digest, now: at), record.kind == .access else {
            if let revoked = try await grants.revokedToken(digest: digest, now: at), revoked.kind == .access { return .revoked(revoked) }
            return .invalid
        }
        if let client = try await clients.client(clientId: record.clientId), !client.allowedAddresses.allows(address) {
            // Audited at most once a minute per (client, address): a refused token cannot buy a write per request.
            if clientAuthentication.refusals.shouldRecord("bearer\u{0}" + record.clientId + "\u{0}" + (address?.description ?? ""), now: at) {
                try await audit.record(AuditAction.addressRefused, actor: record.clientId, client: record.clientId, subject: record.userName,
                                   outcome: .failure,
                                       detail: "bearer token used from \(address?.description ?? "an unknown address"), outside allowedAddresses")
            }
            return .invalid
        }
        var user: User? = nil
        if let name = record.userName {
            guard let found = try await users.user(named: name) else { return .invalid }
            user = found
        }
        if usage.shouldRecord((record.userName ?? "") + "\u{0}" + record.clientId, now: at) {
            try await grants.recordTokenUse(clientId: record.clientId, consentUser: record.mode == .user ? record.userName : nil, now: at)
        }
        return .live(record, user)
    }

    // MARK: Users' authorized applications (INTERFACE §9)

    public func applications(of user: User) async throws -> [(consent: ConsentRecord, client: OAuth2Client)] {
        var result: [(ConsentRecord, OAuth2Client)] = []
        for consent in try await grants.consents(userName: user.name) {
            if let client = try await clients.client(clientId: consent.clientId) { result.append((consent, client)) }
        }
        return result
    }

    /// Revokes one of the user's authorized applications and every token of it; false if the
    /// id is not one of theirs.
    public func revokeApplication(id: String, of user: User) async throws -> Bool {
        let consent = try await grants.consents(userName: user.name).first { $0.id == id }
        guard try await grants.revokeConsent(id: id, userName: user.name) else { return false }
        try await audit.record(AuditAction.applicationRevoke, actor: user.name, client: consent?.clientId, subject: user.name,
                               detail: "oauth2 authorized application revoked")
        return true
    }
}
