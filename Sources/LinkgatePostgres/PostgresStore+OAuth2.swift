import LinkgateCore
import LinkgateCrypto
import LinkgateStoreKit
import OAuth2
import PostgresNIO

extension PostgresStore {
    /// A link's and a consent's "last used" is kept to the minute (`LinkUsage.granularity`):
    /// writing it on every token would make every issue for one client wait for the previous
    /// one's row lock (and its disk flush), across all nodes.
    static let lastUseGranularity = LinkUsage.granularity

    /// SQL: `column` is due for an update at the time in parameter `now`.
    static func stale(_ column: String, _ now: String) -> String {
        "(\(column) IS NULL OR \(column) < \(now)::int8 - \(lastUseGranularity))"
    }
}

extension PostgresStore: OAuth2GrantStore {
    public func saveCode(_ code: AuthorizationCodeRecord) async throws {
        try await rows("""
            INSERT INTO oauth2_codes (digest, family_id, client_id, user_name, redirect_uri, scope, code_challenge,
                                      code_challenge_method, issued_at, expires_at, openid_scope, nonce, auth_time)
            VALUES (\(code.digest), \(code.familyId), \(code.clientId), \(code.userName), \(code.redirectURI), \(code.scope.rawValue),
                    \(code.codeChallenge), \(code.codeChallengeMethod?.rawValue), \(code.issuedAt), \(code.expiresAt),
                    \(code.openID?.text), \(code.nonce), \(code.authTime))
            """)
    }

    /// Code exchanges go in batches (`StatementBatches`): one statement spends every code whose claim
    /// holds and stores its tokens (`RedeemClaimedCodes`), the usual case. A code it did not spend
    /// is then redeemed alone, which says why.
    public func redeemCode(digest: String, clientId: String, now: Int64, claim: CodeClaim) async throws -> CodeRedemption {
        try await codeRedemptions.run(CodeRedemptionRequest(digest: digest, clientId: clientId, now: now, claim: claim), on: self)
    }

    /// The code each request spent, in order; nil where its statement spent none.
    func spendCodes(_ requests: [CodeRedemptionRequest]) async throws -> [AuthorizationCodeRecord?] {
        try await rowsByRequest(RedeemClaimedCodes(requests), count: requests.count, StoredRecords.code)
    }

    /// One request: spend the code as in a batch, or read it to say why not: unknown or expired,
    /// spent before (a replay, which revokes its family: RFC 6749 §4.1.2; a concurrent redemption
    /// that won makes this one the replay), or the claim's own error, which leaves the code
    /// unspent for its rightful holder.
    func redeemCodeAlone(_ request: CodeRedemptionRequest) async throws -> CodeRedemption {
        let (digest, clientId) = (request.digest, request.clientId)
        if let code = try await spendCodes([request])[0] { return .redeemed(code) }
        guard let row = try await rows(CodeOfClient(digest: digest, clientId: clientId)).first else { return .invalid }
        let record = try StoredRecords.code(NamedRow(row))
        if try NamedRow(row).optionalInteger("used_at") != nil { return try await revokeFamilyOfSpentCode(digest: digest, clientId: clientId) }
        guard record.expiresAt > request.now else { return .invalid }
        try request.claim.check(record)
        // Live, unused, and the claim holds, yet the statement spent nothing: `CodeClaim.matches`
        // and `check` disagree. Refuse rather than spend by a rule the statement did not apply.
        logger.error("an authorization code's claim passed its check but not the spending statement's comparison")
        return .invalid
    }

    /// A second redemption: everything the code produced is revoked (RFC 6749 §4.1.2).
    private func revokeFamilyOfSpentCode(digest: String, clientId: String) async throws -> CodeRedemption {
        guard let family = try await rows("""
            SELECT family_id FROM oauth2_codes WHERE digest = \(digest) AND client_id = \(clientId) AND used_at IS NOT NULL
            """).scalar(String.self) else { return .invalid }
        try await deleteFamily(family)
        return .replayed
    }

    /// Deletes every token of a grant, including ones a concurrent rotation on another node is
    /// committing right now: a statement sees only what committed before it began, so it runs
    /// again until it finds nothing (a rotation needs a live token of the family, and the
    /// statement that found none leaves none for a later one to rotate).
    private func deleteFamily(_ family: String) async throws {
        for _ in 0..<100 {
            guard try await !rows("DELETE FROM oauth2_tokens WHERE family_id = \(family) RETURNING 1").isEmpty else { return }
        }
    }

    public func saveTokens(_ tokens: [TokenRecord], audit: AuditEntry?, spending assertion: AssertionId?) async throws -> Bool {
        let first = tokens.first
        let consentUser = first?.mode == .user ? first?.userName : nil
        if assertion == nil, consentUser == nil, !tokens.isEmpty {
            // The usual client_credentials token: no assertion to spend, no consent to touch.
            try await saveClientTokens(tokens, audit: audit)
            return true
        }
        let stored = try await rows(SaveTokens(tokens: TokenColumns(tokens), assertion: assertion, clientId: first?.clientId,
                                               consentUser: consentUser,
                                               now: first?.issuedAt ?? 0, audit: audit)).scalar(Int64.self) ?? 0
        return stored == 1
    }

    /// Like `redeemCode`: read, build the replacements, then rotate and insert in one guarded statement.
    public func rotateRefreshToken(digest: String, clientId: String, now: Int64,
                                   replacements: @escaping @Sendable (TokenRecord) -> [TokenRecord]) async throws -> RefreshRotation {
        guard let row = try await rows(RefreshTokenOfClient(digest: digest, clientId: clientId)).first else { return .invalid }
        let named = NamedRow(row)
        let old = try StoredRecords.token(named)
        if try named.optionalInteger("rotated_at") != nil { return try await revokeFamilyOfRotatedToken(digest: digest, clientId: clientId) }
        guard try named.optionalInteger("revoked_at") == nil, old.expiresAt > now else { return .invalid }
        let new = replacements(old)
        let rotated = try await rows(RotateRefreshToken(digest: digest, clientId: clientId, now: now,
                                                        consentUser: old.mode == .user ? old.userName : nil,
                                                        tokens: TokenColumns(new))).scalar(Int64.self) ?? 0
        if rotated == 1 { return .rotated(old: old) }
        return try await revokeFamilyOfRotatedToken(digest: digest, clientId: clientId)
    }

    /// A dead (rotated) refresh token came back: revoke the whole grant (RFC 9700 §4.14.2).
    private func revokeFamilyOfRotatedToken(digest: String, clientId: String) async throws -> RefreshRotation {
        guard let family = try await rows("""
            SELECT family_id FROM oauth2_tokens
            WHERE digest = \(digest) AND kind = 'refresh' AND client_id = \(clientId) AND rotated_at IS NOT NULL
            """).scalar(String.self) else { return .invalid }
        try await deleteFamily(family)
        return .reused
    }

    /// In batches (`StatementBatches`): under load one statement answers every read that arrived
    /// meanwhile. It starts after each of them arrived, so it sees every revocation committed before.
    public func liveToken(digest: String, now: Int64) async throws -> TokenRecord? {
        try await liveTokenReads.run(LiveTokenRead(digest: digest, now: now), on: self)
    }

    public func revokedToken(digest: String, now: Int64) async throws -> TokenRecord? {
        try await rows("""
            SELECT * FROM oauth2_tokens WHERE digest = \(digest) AND expires_at > \(now) AND revoked_at IS NOT NULL
            """).record(StoredRecords.token)
    }

    public func revokeToken(digest: String, clientId: String, now: Int64) async throws -> Bool {
        guard let row = try await rows("""
            UPDATE oauth2_tokens SET revoked_at = \(now)
            WHERE digest = \(digest) AND client_id = \(clientId) AND revoked_at IS NULL
            RETURNING kind, family_id
            """).first else { return false }
        let (kind, family) = try row.decode((String, String).self)
        // RFC 7009 §2.1: revoking a refresh token also ends the access tokens of its grant, and
        // (as with a reuse) whatever a concurrent rotation on another node is committing.
        if kind == TokenRecord.Kind.refresh.rawValue {
            for _ in 0..<100 {
                guard try await !rows("""
                    UPDATE oauth2_tokens SET revoked_at = \(now) WHERE family_id = \(family) AND revoked_at IS NULL RETURNING 1
                    """).isEmpty else { break }
            }
        }
        return true
    }

    public func consent(userName: String, clientId: String) async throws -> ConsentRecord? {
        try await rows("SELECT * FROM oauth2_consents WHERE user_name = \(userName) AND client_id = \(clientId)").record(StoredRecords.consent)
    }

    public func saveConsent(userName: String, clientId: String, scope: Scope, openID: OpenIDScope?, now: Int64) async throws -> ConsentRecord {
        // A new approval keeps the higher of the old and new scope (INTERFACE §9) and the union
        // of the OpenID values (§14; the stored text is `openid` then `profile`, `email`).
        let order = Scope.allCases.map(\.rawValue)
        if let saved = try await rows("""
            INSERT INTO oauth2_consents (id, user_name, client_id, scope, authorized_at, openid_scope)
            VALUES (\(SecureRandom.uuid()), \(userName), \(clientId), \(scope.rawValue), \(now), \(openID?.text))
            ON CONFLICT (user_name, client_id) DO UPDATE SET
                scope = CASE WHEN array_position(\(order)::text[], oauth2_consents.scope) < array_position(\(order)::text[], EXCLUDED.scope)
                             THEN EXCLUDED.scope ELSE oauth2_consents.scope END,
                openid_scope = CASE WHEN EXCLUDED.openid_scope IS NULL THEN oauth2_consents.openid_scope
                                    WHEN oauth2_consents.openid_scope IS NULL THEN EXCLUDED.openid_scope
                                    ELSE concat_ws(' ', 'openid',
                                        CASE WHEN strpos(oauth2_consents.openid_scope, 'profile') > 0
                                               OR strpos(EXCLUDED.openid_scope, 'profile') > 0 THEN 'profile' END,
                                        CASE WHEN strpos(oauth2_consents.openid_scope, 'email') > 0
                                               OR strpos(EXCLUDED.openid_scope, 'email') > 0 THEN 'email' END) END
            RETURNING *
            """).record(StoredRecords.consent) {
            return saved
        }
        guard let existing = try await consent(userName: userName, clientId: clientId) else { throw StoreError.notFound }
        return existing
    }

    public func consents(userName: String) async throws -> [ConsentRecord] {
        try await rows("SELECT * FROM oauth2_consents WHERE user_name = \(userName) ORDER BY authorized_at, id").records(StoredRecords.consent)
    }

    public func revokeConsent(id: String, userName: String) async throws -> Bool {
        try await transaction { tx in
            // Separate statements: each later one sees what a redemption that held the consent's row
            // lock committed meanwhile (READ COMMITTED takes a new snapshot per statement).
            guard let clientId = try await tx.rows("""
                DELETE FROM oauth2_consents WHERE id = \(id) AND user_name = \(userName) RETURNING client_id
                """).scalar(String.self) else { return false }
            try await tx.run("DELETE FROM oauth2_codes WHERE user_name = \(userName) AND client_id = \(clientId)")
            try await tx.run("DELETE FROM oauth2_tokens WHERE user_name = \(userName) AND client_id = \(clientId) AND mode = 'user'")
            return true
        }
    }

    public func recordTokenUse(clientId: String, consentUser: String?, now: Int64) async throws {
        try await rows("""
            WITH used_consent AS (UPDATE oauth2_consents SET last_used_at = \(now)
                                  WHERE user_name = \(consentUser) AND client_id = \(clientId)
                                    AND (last_used_at IS NULL OR last_used_at < \(now) - \(Self.lastUseGranularity)))
            UPDATE oauth2_clients SET last_used_at = \(now)
            WHERE client_id = \(clientId) AND (last_used_at IS NULL OR last_used_at < \(now) - \(Self.lastUseGranularity))
            """)
    }

    public func clientUsage(now: Int64) async throws -> [String: LinkUsage] {
        var usage: [String: LinkUsage] = [:]
        for row in try await rows("""
            SELECT c.client_id, c.last_used_at,
                   (SELECT count(*) FROM oauth2_tokens t
                    WHERE t.client_id = c.client_id AND t.expires_at > \(now) AND t.rotated_at IS NULL AND t.revoked_at IS NULL) AS active
            FROM oauth2_clients c
            """) {
            let (clientId, last, active) = try row.decode((String, Int64?, Int64).self)
            usage[clientId] = LinkUsage(activeTokens: Int(active), lastUsedAt: last)
        }
        return usage
    }

    public func openIDClientIds(now: Int64) async throws -> Set<String> {
        var ids: Set<String> = []
        for row in try await rows("""
            SELECT client_id FROM oauth2_consents WHERE openid_scope IS NOT NULL
            UNION
            SELECT client_id FROM oauth2_tokens
            WHERE openid_scope IS NOT NULL AND expires_at > \(now) AND rotated_at IS NULL AND revoked_at IS NULL
            """) {
            ids.insert(try row.decode(String.self))
        }
        return ids
    }

    public func pruneExpiredGrants(now: Int64) async throws -> Int {
        try await prune("oauth2_codes", key: "digest", expired: "expires_at <= $1", now: now)
            + prune("oauth2_tokens", key: "digest", expired: "expires_at <= $1", now: now)
            + prune("oauth2_jwt_ids", key: "client_id, jti", expired: "expires_at <= $1", now: now)
    }
}

/// Tokens as column arrays, inserted with `unnest` so one statement stores any number of them.
/// A missing user name travels as '' (names are never empty) and is stored as NULL; so do a
/// missing OpenID scope ('') and a missing auth_time (0).
struct TokenColumns: Sendable {
    var digests: [String] = [], kinds: [String] = [], families: [String] = [], clients: [String] = []
    var users: [String] = [], scopes: [String] = [], modes: [String] = [], issued: [Int64] = [], expires: [Int64] = []
    var openIDs: [String] = [], authTimes: [Int64] = []

    init(_ tokens: [TokenRecord]) {
        for token in tokens {
            digests.append(token.digest); kinds.append(token.kind.rawValue); families.append(token.familyId)
            clients.append(token.clientId); users.append(token.userName ?? ""); scopes.append(token.scope.rawValue)
            modes.append(token.mode.rawValue); issued.append(token.issuedAt); expires.append(token.expiresAt)
            openIDs.append(token.openID?.text ?? ""); authTimes.append(token.authTime ?? 0)
        }
    }

    /// Appends the eleven arrays, in the order `TokenColumns.insert(from:first:)` expects.
    func bind(_ binds: inout PostgresBindings) {
        binds.append(digests); binds.append(kinds); binds.append(families); binds.append(clients); binds.append(users)
        binds.append(scopes); binds.append(modes); binds.append(issued); binds.append(expires)
        binds.append(openIDs); binds.append(authTimes)
    }

    /// Two CTEs that record a link's and a consent's use at `now` when a row of `source` exists
    /// (to the minute: `PostgresStore.stale`); the arguments are SQL expressions (parameters).
    static func recordUse(after source: String, clientId: String, consentUser: String, now: String) -> String {
        """
        used_client AS (UPDATE oauth2_clients SET last_used_at = \(now)
                        WHERE client_id = \(clientId) AND \(PostgresStore.stale("last_used_at", now)) AND EXISTS (SELECT 1 FROM \(source))),
        used_consent AS (UPDATE oauth2_consents SET last_used_at = \(now)
                         WHERE client_id = \(clientId) AND user_name = \(consentUser) AND \(PostgresStore.stale("last_used_at", now))
                           AND EXISTS (SELECT 1 FROM \(source)))
        """
    }

    /// A CTE that records each link's use at the latest `used_at` that `source` (rows of
    /// client_id, used_at) gives it, to the minute: the batches' form of `recordUse`'s first half.
    static func recordLinkUses(from source: String) -> String {
        """
        used_client AS (UPDATE oauth2_clients l SET last_used_at = u.used_at
                        FROM (SELECT client_id, max(used_at) AS used_at FROM \(source) GROUP BY client_id) u
                        WHERE l.client_id = u.client_id AND \(PostgresStore.stale("l.last_used_at", "u.used_at")))
        """
    }

    /// The head of every token insert: each statement supplies the eleven values in this order.
    static let insertInto = """
        INSERT INTO oauth2_tokens (digest, kind, family_id, client_id, user_name, scope, mode, issued_at, expires_at,
                                   openid_scope, auth_time)
        """

    /// `INSERT … SELECT` of the tokens whose arrays are parameters `$first…$first+10`, once per row
    /// of `source` (once, without one).
    static func insert(from source: String? = nil, first: Int) -> String {
        let p = (first..<first + 11).map { "$\($0)" }
        return """
            \(insertInto)
            SELECT t.digest, t.kind, t.family_id, t.client_id, NULLIF(t.user_name, ''), t.scope, t.mode, t.issued_at, t.expires_at,
                   NULLIF(t.openid_scope, ''), NULLIF(t.auth_time, 0)
            FROM \(source.map { "\($0), " } ?? "")unnest(\(p[0])::text[], \(p[1])::text[], \(p[2])::text[], \(p[3])::text[], \(p[4])::text[],
                                 \(p[5])::text[], \(p[6])::text[], \(p[7])::int8[], \(p[8])::int8[], \(p[9])::text[], \(p[10])::int8[])
                 AS t(digest, kind, family_id, client_id, user_name, scope, mode, issued_at, expires_at, openid_scope, auth_time)
            """
    }
}

/// An optional audit entry as seven parameters, inserted in the same statement as the change
/// it describes (the token and nonce paths).
enum AuditColumns {
    static func bind(_ entry: AuditEntry?, _ binds: inout PostgresBindings) {
        binds.append(entry?.time)
        binds.append(entry?.actor)
        binds.append(entry?.client)
        binds.append(entry?.subject)
        binds.append(entry?.action)
        binds.append(entry?.outcome.rawValue)
        binds.append(entry?.detail)
    }

    /// Several entries as seven arrays, one per column (the batched writes' `unnest`). Texts that
    /// may be missing go as `OptionalTexts`, so they stay NULL.
    static func bind(_ entries: [AuditEntry], _ binds: inout PostgresBindings) {
        binds.append(entries.map(\.time))
        binds.append(OptionalTexts(entries.map(\.actor)))
        binds.append(OptionalTexts(entries.map(\.client)))
        binds.append(OptionalTexts(entries.map(\.subject)))
        binds.append(entries.map(\.action))
        binds.append(entries.map(\.outcome.rawValue))
        binds.append(OptionalTexts(entries.map(\.detail)))
    }

    /// `INSERT … SELECT` of the entry in parameters `$first…$first+6` once per row of `source`, if there is one.
    static func insert(from source: String, first: Int) -> String {
        let p = (first..<first + 7).map { "$\($0)" }
        return """
            INSERT INTO audit (time, actor, client, subject, action, outcome, detail)
            SELECT \(p[0])::int8, \(p[1])::text, \(p[2])::text, \(p[3])::text, \(p[4])::text, \(p[5])::text, \(p[6])::text
            FROM \(source) WHERE \(p[4])::text IS NOT NULL
            """
    }
}

// MARK: - Prepared statements of the token paths

/// A read of one client's row by digest (`$1`, `$2`).
protocol LookupOfClient: PreparedLookup {
    var digest: String { get }
    var clientId: String { get }
}

extension LookupOfClient {
    func makeBindings() throws -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(digest)
        binds.append(clientId)
        return binds
    }
}

/// The code exchange's read when the spend found nothing: it tells why.
struct CodeOfClient: LookupOfClient {
    static let name = "linkgate_code_of_client_v1"
    static let sql = "SELECT * FROM oauth2_codes WHERE digest = $1 AND client_id = $2"
    var digest: String
    var clientId: String
}

/// The refresh grant's read, before the closure that builds the replacements.
struct RefreshTokenOfClient: LookupOfClient {
    static let name = "linkgate_refresh_token_of_client_v1"
    static let sql = "SELECT * FROM oauth2_tokens WHERE digest = $1 AND kind = 'refresh' AND client_id = $2"
    var digest: String
    var clientId: String
}

/// A token request's claim on a code, waiting for its batch.
struct CodeRedemptionRequest: Sendable {
    var digest: String
    var clientId: String
    var now: Int64
    var claim: CodeClaim
}

/// Spends each request's code if it is live, unused, the request's client's and satisfies its
/// claim (`CodeClaim.matches`: the same redirect URI, a (challenge, method) pair the verifier
/// answers), and stores its tokens and the links' and consents' use, in one statement. The tokens
/// take their code's grant, as `CodeClaim.tokens(for:)` does. Returns each spent code's row with
/// `request`, its request's place (from 1). Two requests for one code spend it once.
struct RedeemClaimedCodes: PreparedLookup {
    static let name = "linkgate_redeem_claimed_codes_v1"
    static let sql = """
        WITH claim AS (SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[]) WITH ORDINALITY
                                     AS c(digest, client_id, now, redirect_uri, request)),
             spent AS (UPDATE oauth2_codes o SET used_at = c.now
                       FROM claim c
                       WHERE o.digest = c.digest AND o.client_id = c.client_id AND o.used_at IS NULL AND o.expires_at > c.now
                         AND o.redirect_uri = c.redirect_uri
                         AND (c.request, coalesce(o.code_challenge, ''), coalesce(o.code_challenge_method, ''))
                             IN (SELECT * FROM unnest($5::int8[], $6::text[], $7::text[]))
                       RETURNING o.*, c.request),
             issued AS (\(TokenColumns.insertInto)
                        SELECT t.digest, t.kind, s.family_id, s.client_id, s.user_name, s.scope, $8, t.issued_at, t.expires_at,
                               s.openid_scope, s.auth_time
                        FROM spent s JOIN unnest($9::int8[], $10::text[], $11::text[], $12::int8[], $13::int8[])
                                          AS t(request, digest, kind, issued_at, expires_at) ON t.request = s.request),
             \(TokenColumns.recordLinkUses(from: "spent")),
             used_consent AS (UPDATE oauth2_consents g SET last_used_at = u.used_at
                              FROM (SELECT client_id, user_name, max(used_at) AS used_at FROM spent GROUP BY client_id, user_name) u
                              WHERE g.client_id = u.client_id AND g.user_name = u.user_name
                                AND \(PostgresStore.stale("g.last_used_at", "u.used_at")))
        SELECT * FROM spent
        """
    var requests: [CodeRedemptionRequest]

    init(_ requests: [CodeRedemptionRequest]) { self.requests = requests }

    func makeBindings() throws -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(requests.map(\.digest))
        binds.append(requests.map(\.clientId))
        binds.append(requests.map(\.now))
        // PostgreSQL's text cannot hold a NUL, so no stored redirect URI equals one that has it: it
        // goes as NULL, which matches none, and the code is then read to say so.
        binds.append(OptionalTexts(requests.map { $0.claim.redirectURI?.contains("\0") == true ? nil : $0.claim.redirectURI }))
        var accepted: (requests: [Int64], challenges: [String], methods: [String]) = ([], [], [])
        var tokens: (requests: [Int64], digests: [String], kinds: [String], issued: [Int64], expires: [Int64]) = ([], [], [], [], [])
        for (index, request) in requests.enumerated() {
            let place = Int64(index + 1)
            for pair in request.claim.acceptedChallenges {
                accepted.requests.append(place); accepted.challenges.append(pair.challenge); accepted.methods.append(pair.method)
            }
            for token in request.claim.tokens {
                tokens.requests.append(place); tokens.digests.append(token.digest); tokens.kinds.append(token.kind.rawValue)
                tokens.issued.append(token.issuedAt); tokens.expires.append(token.expiresAt)
            }
        }
        binds.append(accepted.requests)
        binds.append(accepted.challenges)
        binds.append(accepted.methods)
        binds.append(TokenMode.user.rawValue)
        binds.append(tokens.requests)
        binds.append(tokens.digests)
        binds.append(tokens.kinds)
        binds.append(tokens.issued)
        binds.append(tokens.expires)
        return binds
    }
}

/// Kills a live refresh token and stores its replacements and the link's use, in one statement.
struct RotateRefreshToken: PreparedLookup {
    static let name = "linkgate_rotate_refresh_v2"
    static let sql = """
        WITH rotated AS (UPDATE oauth2_tokens SET rotated_at = $3
                         WHERE digest = $1 AND kind = 'refresh' AND client_id = $2
                           AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > $3
                         RETURNING 1),
             issued AS (\(TokenColumns.insert(from: "rotated", first: 5))),
             \(TokenColumns.recordUse(after: "rotated", clientId: "$2", consentUser: "$4::text", now: "$3"))
        SELECT count(*) FROM rotated
        """
    var digest: String
    var clientId: String
    var now: Int64
    var consentUser: String?
    var tokens: TokenColumns

    func makeBindings() throws -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(digest)
        binds.append(clientId)
        binds.append(now)
        binds.append(consentUser)
        tokens.bind(&binds)
        return binds
    }
}

/// Stores freshly issued tokens with the link's use and an audit entry; with an assertion id, spends
/// it first and stores nothing if it was spent before (RFC 7523 §3 item 7). Returns 1 when stored.
struct SaveTokens: PreparedLookup {
    static let name = "linkgate_save_tokens_v2"
    static let sql = """
        WITH jti AS (INSERT INTO oauth2_jwt_ids (client_id, jti, expires_at)
                     SELECT $1::text, $2::text, $3::int8 WHERE $2::text IS NOT NULL
                     ON CONFLICT DO NOTHING RETURNING 1),
             allowed AS (SELECT 1 WHERE $2::text IS NULL OR EXISTS (SELECT 1 FROM jti)),
             issued AS (\(TokenColumns.insert(from: "allowed", first: 14))),
             \(TokenColumns.recordUse(after: "allowed", clientId: "$4::text", consentUser: "$5::text", now: "$6")),
             audited AS (\(AuditColumns.insert(from: "allowed", first: 7)))
        SELECT count(*) FROM allowed
        """
    var tokens: TokenColumns
    var assertion: AssertionId?
    var clientId: String?
    var consentUser: String?
    var now: Int64
    var audit: AuditEntry?

    func makeBindings() throws -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(assertion?.clientId)
        binds.append(assertion?.jti)
        binds.append(assertion?.expiresAt)
        binds.append(clientId)
        binds.append(consentUser)
        binds.append(now)
        AuditColumns.bind(audit, &binds)
        tokens.bind(&binds)
        return binds
    }
}
