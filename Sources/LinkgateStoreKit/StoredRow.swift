import Foundation
import LinkgateCore
import OAuth1
import OAuth2

/// One result row of either store, read by column name. Both stores use the same table and
/// column names, so each record is mapped from a row once, here, for both.
public protocol StoredRow {
    func text(_ column: String) throws -> String
    func optionalText(_ column: String) throws -> String?
    func integer(_ column: String) throws -> Int64
    func optionalInteger(_ column: String) throws -> Int64?
    func flag(_ column: String) throws -> Bool
}

/// Record ↔ column conversions shared by the SQLite and PostgreSQL stores.
public enum StoredRecords {
    public static func user(_ row: some StoredRow) throws -> User {
        User(name: try row.text("name"), displayName: try row.text("display_name"), email: try row.optionalText("email"),
             admin: try row.flag("admin"), passwordHash: try row.text("password_hash"), createdAt: try row.integer("created_at"),
             directory: try row.text("directory"))
    }

    public static func client(_ row: some StoredRow) throws -> OAuth2Client {
        OAuth2Client(
            id: try row.text("id"), clientId: try row.text("client_id"), secretDigest: try row.text("secret_digest"),
            name: try row.text("name"), redirects: decodeRedirects(try row.text("redirects")),
            scope: Scope(rawValue: try row.text("scope")) ?? .read, impersonation: try row.flag("impersonation"),
            publicKey: try row.optionalText("public_key"), executeAs: try row.optionalText("execute_as"),
            allowedAddresses: AddressAllowList(stored: try row.optionalText("allowed_addresses")), createdAt: try row.integer("created_at"))
    }

    public static func consumer(_ row: some StoredRow) throws -> Consumer {
        Consumer(key: try row.text("key"), name: try row.text("name"), description: try row.optionalText("description"),
                 publicKey: try row.text("public_key"), callback: try row.optionalText("callback"),
                 threeLeggedAllowed: try row.flag("three_legged_allowed"), twoLeggedAllowed: try row.flag("two_legged_allowed"),
                 executeAs: try row.optionalText("execute_as"), impersonationAllowed: try row.flag("impersonation_allowed"),
                 allowedAddresses: AddressAllowList(stored: try row.optionalText("allowed_addresses")), createdAt: try row.integer("created_at"),
                 signatureMethods: SignatureMethod.fromStorage(try row.optionalText("signature_methods")))
    }

    public static func session(_ row: some StoredRow) throws -> Session {
        Session(idDigest: try row.text("id_digest"), userName: try row.text("user_name"), createdAt: try row.integer("created_at"),
                expiresAt: try row.integer("expires_at"))
    }

    public static func code(_ row: some StoredRow) throws -> AuthorizationCodeRecord {
        AuthorizationCodeRecord(
            digest: try row.text("digest"), familyId: try row.text("family_id"), clientId: try row.text("client_id"),
            userName: try row.text("user_name"), redirectURI: try row.text("redirect_uri"), scope: Scope(rawValue: try row.text("scope")) ?? .read,
            codeChallenge: try row.optionalText("code_challenge"),
            codeChallengeMethod: try row.optionalText("code_challenge_method").flatMap(PKCE.Method.init(rawValue:)),
            issuedAt: try row.integer("issued_at"), expiresAt: try row.integer("expires_at"),
            openID: OpenIDScope(stored: try row.optionalText("openid_scope")), nonce: try row.optionalText("nonce"),
            authTime: try row.optionalInteger("auth_time"))
    }

    public static func token(_ row: some StoredRow) throws -> TokenRecord {
        TokenRecord(
            digest: try row.text("digest"), kind: TokenRecord.Kind(rawValue: try row.text("kind")) ?? .access, familyId: try row.text("family_id"),
            clientId: try row.text("client_id"), userName: try row.optionalText("user_name"), scope: Scope(rawValue: try row.text("scope")) ?? .read,
            mode: TokenMode(rawValue: try row.text("mode")) ?? .user, issuedAt: try row.integer("issued_at"), expiresAt: try row.integer("expires_at"),
            openID: OpenIDScope(stored: try row.optionalText("openid_scope")), authTime: try row.optionalInteger("auth_time"))
    }

    public static func consent(_ row: some StoredRow) throws -> ConsentRecord {
        ConsentRecord(id: try row.text("id"), userName: try row.text("user_name"), clientId: try row.text("client_id"),
                      scope: Scope(rawValue: try row.text("scope")) ?? .read, authorizedAt: try row.integer("authorized_at"),
                      lastUsedAt: try row.optionalInteger("last_used_at"), openID: OpenIDScope(stored: try row.optionalText("openid_scope")))
    }

    public static func oauth1Token(_ row: some StoredRow) throws -> OAuth1TokenRecord {
        OAuth1TokenRecord(
            id: try row.text("id"), digest: try row.text("digest"), kind: OAuth1TokenRecord.Kind(rawValue: try row.text("kind")) ?? .request,
            consumerKey: try row.text("consumer_key"), userName: try row.optionalText("user_name"), callback: try row.optionalText("callback"),
            verifierDigest: try row.optionalText("verifier_digest"),
            authorization: OAuth1TokenRecord.Authorization(rawValue: try row.text("authorization")) ?? .pending,
            sessionHandleDigest: try row.optionalText("session_handle_digest"), issuedAt: try row.integer("issued_at"),
            expiresAt: try row.integer("expires_at"), lastUsedAt: try row.optionalInteger("last_used_at"))
    }

    public static func audit(_ row: some StoredRow) throws -> AuditEntry {
        AuditEntry(id: try row.integer("id"), time: try row.integer("time"), actor: try row.optionalText("actor"),
                   client: try row.optionalText("client"), subject: try row.optionalText("subject"), action: try row.text("action"),
                   outcome: AuditEntry.Outcome(rawValue: try row.text("outcome")) ?? .failure, detail: try row.optionalText("detail"))
    }

    /// A client's redirect URIs as stored: a JSON array of strings.
    public static func encodeRedirects(_ redirects: [String]) -> String {
        String(decoding: (try? JSONEncoder().encode(redirects)) ?? Data("[]".utf8), as: UTF8.self)
    }

    public static func decodeRedirects(_ text: String) -> [String] {
        (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? []
    }
}
