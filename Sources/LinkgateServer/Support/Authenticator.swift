import Hummingbird
import LinkgateCore
import LinkgateCrypto
import LinkgateMetrics
import OAuth1
import OAuth2

/// Resolves the caller of a REST request (INTERFACE §3): HTTP Basic, or a session cookie on
/// safe methods only, an OAuth 2.0 Bearer token (RFC 6750), or an OAuth 1.0a signed request (RFC 5849).
struct Authenticator: Sendable {
    static let challenge = "Basic realm=\"Linkgate\", charset=\"UTF-8\""
    static let bearerChallenge = "Bearer realm=\"Linkgate\""

    let accounts: UserAccounts
    let sessions: Sessions
    let oauth2: AuthorizationServer
    let oauth1: RequestVerifier
    let oauth1Flow: ThreeLeggedFlow
    let config: ServerConfig
    let audit: AuditLog
    let addresses: ClientAddressResolver

    /// What a route demands of its caller.
    struct Requirement: Sendable {
        /// Nil: any credential will do.
        var scope: Scope?
        var admin = false

        /// Why `principal` is refused, or nil.
        func refusal(for principal: Principal) -> APIError? {
            if let scope, !principal.allows(scope) { return Authenticator.insufficientScope(scope) }
            if admin && principal.user?.admin != true { return APIError.forbidden("administrator rights are required") }
            return nil
        }
    }

    /// The authenticated caller, or `401` with `WWW-Authenticate`. Not audited: see `principal(_:needs:admin:)`.
    func principal(_ request: Request, _ context: LinkgateContext) async throws -> Principal {
        try await principal(request, context, auditing: nil)
    }

    /// The caller; with a requirement, a two-legged or impersonating caller's use is audited with
    /// the decision on it (for OAuth 1.0a in the nonce's commit).
    private func principal(_ request: Request, _ context: LinkgateContext, auditing requirement: Requirement?) async throws -> Principal {
        let authorizations = request.headers[values: .authorization]
        if authorizations.count > 1 { throw APIError.invalidRequest("more than one Authorization header") }
        if let authorization = authorizations.first {
            // OAuth 1.0a signs the whole request, not just the header.
            if Self.split(authorization).scheme == "oauth" { return try await oauth1Principal(try signedRequest(request, context), auditing: requirement) }
            let principal = try await principal(authorization: authorization, request, context)
            if let requirement { try await recordUse(principal, refusal: requirement.refusal(for: principal)?.message) }
            return principal
        }
        // RFC 5849 §3.5.3: OAuth 1.0 parameters may come in the query instead of the header.
        if request.queryPairs?.contains(where: { $0.name == "oauth_signature" }) == true {
            return try await oauth1Principal(try signedRequest(request, context), auditing: requirement)
        }
        if request.cookies[Sessions.cookieName] != nil {
            // Cookies ride along on cross-site requests: honour them for reads only.
            guard request.method == .get || request.method == .head else {
                throw APIError.unauthorized("a session cookie is accepted only on GET; use Basic or OAuth credentials",
                                            challenge: Self.challenge)
            }
            if let current = try await sessions.current(request) {
                return Principal(user: current.user, authProtocol: .session, mode: nil, client: nil, scope: nil)
            }
            throw APIError.unauthorized("the session has expired; log in again", challenge: Self.challenge)
        }
        throw APIError.unauthorized("authentication required", challenge: Self.challenge)
    }

    /// The caller, who must hold `scope` (and be an admin user when `admin`), else `403`.
    /// Two-legged and impersonating callers are audited here, with the decision.
    func principal(_ request: Request, _ context: LinkgateContext, needs scope: Scope, admin: Bool = false) async throws -> Principal {
        let requirement = Requirement(scope: scope, admin: admin)
        let principal = try await principal(request, context, auditing: requirement)
        if let refusal = requirement.refusal(for: principal) { throw refusal }
        return principal
    }

    /// An admin user (with `SYSTEM_ADMIN` scope when the credential is scoped), or `401`/`403`.
    func admin(_ request: Request, _ context: LinkgateContext) async throws -> Principal {
        try await principal(request, context, needs: .systemAdmin, admin: true)
    }

    /// The request as OAuth 1.0 sees it, with the client's address for the consumer's network restriction.
    func signedRequest(_ request: Request, _ context: LinkgateContext, form: [(name: String, value: String)] = []) throws -> SignedRequest {
        try config.signedRequest(request, form: form, clientAddress: addresses.address(request, context))
    }

    /// RFC 6750 §3.1 `insufficient_scope`; the body uses INTERFACE §1's code.
    static func insufficientScope(_ scope: Scope) -> APIError {
        APIError(.forbidden, code: "forbidden", "insufficient_scope: this request needs scope \(scope.rawValue)",
                 headers: [.wwwAuthenticate: Self.bearerChallenge + ", error=\"insufficient_scope\", scope=\"\(scope.rawValue)\""])
    }

    /// INTERFACE §8: every use of a two-legged or impersonating credential is audited, refusals included.
    func recordUse(_ principal: Principal, subject: String? = nil, refusal: String?) async throws {
        if let entry = useEntry(principal, subject: subject, refusal: refusal) { try await audit.record(entry) }
    }

    /// The audit entry for a use of `principal`; nil for user-mode and non-OAuth callers.
    func useEntry(_ principal: Principal, subject: String? = nil, refusal: String?) -> AuditEntry? {
        guard let mode = principal.mode, mode != .user, let client = principal.client else { return nil }
        return audit.entry(AuditAction.tokenUse, actor: client, client: client, subject: subject ?? principal.user?.name,
                           outcome: refusal == nil ? .success : .failure,
                           detail: "\(principal.authProtocol.rawValue), mode \(mode.rawValue)" + (refusal.map { ": refused, \($0)" } ?? ""))
    }

    private func principal(authorization: String, _ request: Request, _ context: LinkgateContext) async throws -> Principal {
        // RFC 7235 §2.1: `scheme [credentials]`; a known scheme with an empty or malformed
        // credential gets its own challenge (INTERFACE §10), never another scheme's.
        let (scheme, credential) = Self.split(authorization)
        switch scheme {
        case "bearer":
            return try await bearer(credential, from: addresses.address(request, context))
        case "basic":
            break
        default:
            throw APIError.unauthorized("unsupported authorization scheme", challenge: Self.challenge)
        }
        // RFC 7617 §2: base64 of "user-id:password", UTF-8.
        guard !credential.isEmpty, let decoded = Base64URL.decode(credential),
              let text = String(validating: decoded, as: UTF8.self),
              let colon = text.firstIndex(of: ":") else {
            throw APIError.unauthorized("malformed Basic credentials", challenge: Self.challenge)
        }
        let name = String(text[..<colon]), password = String(text[text.index(after: colon)...])
        let user: User
        switch try await accounts.check(name: name, password: password, address: addresses.key(request, context)).counted() {
        case .valid(let valid): user = valid
        case .invalid: throw APIError.unauthorized("wrong user name or password", challenge: Self.challenge)
        case .throttled(let retryAfter):
            throw APIError.tooManyRequests("too many failed password checks for this user name or address; retry later", retryAfter: retryAfter)
        case .busy: throw APIError.tooManyRequests("the server is busy checking passwords; retry shortly", retryAfter: 1)
        case .unavailable: throw APIError.directoryUnavailable
        }
        return Principal(user: user, authProtocol: .basic, mode: nil, client: nil, scope: nil)
    }
}

extension Authenticator {
    /// An `Authorization` value's scheme (lowercased) and credential (RFC 7235 §2.1).
    /// Byte-wise: this runs on every authenticated request.
    static func split(_ authorization: String) -> (scheme: String, credential: String) {
        let bytes = authorization.utf8
        let space = UInt8(ascii: " ")
        let schemeStart = bytes.firstIndex(where: { $0 != space }) ?? bytes.endIndex
        let schemeEnd = bytes[schemeStart...].firstIndex(of: space) ?? bytes.endIndex
        let credentialStart = bytes[schemeEnd...].firstIndex(where: { $0 != space }) ?? bytes.endIndex
        let credentialEnd = bytes[credentialStart...].lastIndex(where: { $0 != space }).map(bytes.index(after:)) ?? credentialStart
        return (Substring(bytes[schemeStart..<schemeEnd]).asciiLowercased, String(Substring(bytes[credentialStart..<credentialEnd])))
    }

    /// RFC 6750 §2.1 Bearer credentials from the client at `address`; anything not live, or
    /// presented from outside its link's allowed addresses, is `invalid_token`.
    func bearer(_ token: String, from address: IPAddress?) async throws -> Principal {
        let (record, user) = try await bearerToken(token, from: address)
        return Principal(user: user, authProtocol: .oauth2, mode: Self.mode(record.mode), client: record.clientId, scope: record.scope)
    }

    /// The live access token behind RFC 6750 §2.1 Bearer credentials, and its acting user.
    func bearerToken(_ token: String, from address: IPAddress?, invalidCode: String = "unauthorized") async throws -> (TokenRecord, User?) {
        // RFC 6750 §3.1: a request without a token gets the challenge without an error code.
        guard !token.isEmpty else { throw APIError.unauthorized("the Bearer credential is empty", challenge: Self.bearerChallenge) }
        let invalid = APIError(.unauthorized, code: invalidCode, "invalid_token: the access token is invalid, expired or revoked",
                               headers: [.wwwAuthenticate: Self.bearerChallenge + ", error=\"invalid_token\""])
        switch try await oauth2.bearer(token, from: address) {
        case .live(let record, let user):
            return (record, user)
        case .revoked(let record):
            LinkgateMetrics.authFailure(kind: "bearer", reason: "invalid_token")
            // A revoked two-legged or impersonating token presented again is an audited refusal.
            try await recordUse(Principal(user: nil, authProtocol: .oauth2, mode: Self.mode(record.mode), client: record.clientId,
                                          scope: record.scope), subject: record.userName, refusal: "the token was revoked")
            throw invalid
        case .invalid:
            LinkgateMetrics.authFailure(kind: "bearer", reason: "invalid_token")
            throw invalid
        }
    }

    static func mode(_ mode: TokenMode) -> Principal.Mode {
        switch mode {
        case .user: .user
        case .application: .application
        case .impersonation: .impersonation
        }
    }
}

extension Authenticator {
    /// An RFC 5849 signed request (INTERFACE §7): 3LO, 2LO or 2LO with impersonation. With a
    /// requirement, a two-legged use is audited with the decision, in the nonce's commit.
    func oauth1Principal(_ request: @autoclosure () throws -> SignedRequest, auditing requirement: Requirement?) async throws -> Principal {
        do {
            let request = try request()
            let verified = try await oauth1.authenticate(request) { verified in
                guard let requirement else { return nil }
                let principal = Self.principal(verified)
                return useEntry(principal, refusal: requirement.refusal(for: principal)?.message)
            }
            try await oauth1Flow.recordUse(consumer: verified.consumer.key, token: verified.token)
            return Self.principal(verified)
        } catch let problem as OAuth1Problem {
            throw oauth1RESTError(problem, realm: config.baseURL)
        }
    }

    /// OAuth 1.0 tokens carry no scope: like Basic they are limited only by the user's rights.
    static func principal(_ verified: OAuth1Principal) -> Principal {
        let mode: Principal.Mode = switch verified.mode {
        case .user: .user
        case .application: .application
        case .impersonation: .impersonation
        }
        return Principal(user: verified.user, authProtocol: .oauth1, mode: mode, client: verified.consumer.key, scope: nil)
    }
}
