/// One audit log entry (INTERFACE §8): who did what to whom, and whether it worked.
public struct AuditEntry: Sendable, Equatable {
    public enum Outcome: String, Sendable { case success, failure }

    /// Assigned by the store; increasing.
    public var id: Int64
    /// Epoch seconds.
    public var time: Int64
    /// Who acted: a user name, or a client id / consumer key for protocol events.
    public var actor: String?
    /// The OAuth client or consumer involved.
    public var client: String?
    /// Whom it was about: the acting or affected user, or the changed entity.
    public var subject: String?
    /// What happened, e.g. `token.issue`, `client.delete` (see `AuditAction`).
    public var action: String
    public var outcome: Outcome
    /// Extra words for people; never a secret.
    public var detail: String?

    public init(id: Int64 = 0, time: Int64, actor: String?, client: String?, subject: String?, action: String, outcome: Outcome, detail: String?) {
        self.id = id
        self.time = time
        self.actor = actor
        self.client = client
        self.subject = subject
        self.action = action
        self.outcome = outcome
        self.detail = detail
    }
}

/// The actions recorded (INTERFACE §8, issue 5): two-legged and impersonated token issue and
/// use, every client/consumer/user change, and every revocation.
public enum AuditAction {
    public static let tokenIssue = "token.issue"
    public static let tokenUse = "token.use"
    public static let tokenRevoke = "token.revoke"
    /// A lockout began or an admin lifted one (INTERFACE §10).
    public static let userLockout = "user.lockout"
    /// Failed client authentications locked a (client_id, address) or an address (INTERFACE §10).
    public static let clientLockout = "client.lockout"
    /// A request from outside a link's `allowedAddresses` was refused (INTERFACE §10).
    public static let addressRefused = "link.address_refused"
    public static let grantRevoke = "grant.revoke"
    public static let applicationRevoke = "application.revoke"
    public static let userCreate = "user.create", userUpdate = "user.update", userDelete = "user.delete"
    public static let clientCreate = "client.create", clientUpdate = "client.update", clientDelete = "client.delete",
                      clientResetSecret = "client.reset_secret"
    public static let consumerCreate = "consumer.create", consumerUpdate = "consumer.update", consumerDelete = "consumer.delete"
    /// `linkgate keys rotate` added an id_token signing key (INTERFACE §14); the subject is its kid.
    public static let keysRotate = "keys.rotate"
}

/// A page of the audit log, newest first.
public struct AuditQuery: Sendable, Equatable {
    public var since: Int64?
    public var limit: Int
    public var client: String?
    public var user: String?
    public var action: String?
    /// Entries older than this id (the `next` cursor of the previous page).
    public var before: Int64?

    public init(since: Int64? = nil, limit: Int = 100, client: String? = nil, user: String? = nil, action: String? = nil, before: Int64? = nil) {
        self.since = since
        self.limit = limit
        self.client = client
        self.user = user
        self.action = action
        self.before = before
    }
}

public protocol AuditStore: Sendable {
    /// Appends an entry, committed before this returns.
    func record(_ entry: AuditEntry) async throws
    /// Entries matching `query`, newest first, at most `query.limit`.
    func auditEntries(_ query: AuditQuery) async throws -> [AuditEntry]
}

/// Writes audit entries for the protocol and admin code; a failure to audit is logged by the
/// caller's store errors, never swallowed silently.
public struct AuditLog: Sendable {
    let store: any AuditStore
    let now: @Sendable () -> Int64

    public init(store: any AuditStore, now: @escaping @Sendable () -> Int64) {
        self.store = store
        self.now = now
    }

    public func record(_ action: String, actor: String?, client: String? = nil, subject: String? = nil,
                       outcome: AuditEntry.Outcome = .success, detail: String? = nil) async throws {
        try await store.record(entry(action, actor: actor, client: client, subject: subject, outcome: outcome, detail: detail))
    }

    /// An entry stamped now, for a store to append in the same transaction as the change it
    /// describes (one commit instead of two on the token and signed-request paths).
    /// Text from a request can hold a NUL character, which PostgreSQL's text cannot: it is written
    /// as U+FFFD, so that auditing a refusal never fails in its place.
    public func entry(_ action: String, actor: String?, client: String? = nil, subject: String? = nil,
                      outcome: AuditEntry.Outcome = .success, detail: String? = nil) -> AuditEntry {
        func storable(_ text: String?) -> String? {
            guard let text, text.utf8.contains(0) else { return text }
            return text.split(separator: "\0", omittingEmptySubsequences: false).joined(separator: "\u{FFFD}")
        }
        return AuditEntry(time: now(), actor: storable(actor), client: storable(client), subject: storable(subject), action: action,
                          outcome: outcome, detail: storable(detail.map { String($0.prefix(500)) }))
    }

    /// Appends an entry built with `entry(…)`.
    public func record(_ entry: AuditEntry) async throws {
        try await store.record(entry)
    }
}
