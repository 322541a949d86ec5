/// Storage protocols, one per concern. Implementations: `LinkgateSQLite` (later PostgreSQL).
/// Every method is one transaction; methods that check and change (delete the last admin,
/// unique names) do both inside it, never as a read-then-write in a caller.

/// Why a store refused a write.
public enum StoreError: Error, Equatable, Sendable {
    /// A unique value (name, id) is taken; the associated text names it for the caller.
    case conflict(String)
    /// The entity does not exist.
    case notFound
    /// The change would leave no admin user.
    case lastAdmin
    /// The entity is still referenced (e.g. a user who is a client's execute-as user).
    case inUse(String)
    /// The database failed; `code` is the engine's result code (no SQL, no values).
    case unavailable(code: Int32)
}

public protocol UserStore: Sendable {
    /// Inserts a user; `conflict` if the name is taken (case-insensitively).
    func createUser(_ user: User) async throws
    /// Creates `user` only if there are no users at all; returns whether it did.
    func createFirstUser(_ user: User) async throws -> Bool
    func user(named name: String) async throws -> User?
    func users() async throws -> [User]
    /// Applies a change in one transaction; `notFound`, or `lastAdmin` if it would demote the only admin.
    /// A password change ends the user's sessions; losing admin rights voids their unredeemed ADMIN and SYSTEM_ADMIN codes.
    func updateUser(named name: String, displayName: String?, email: String??, admin: Bool?, passwordHash: String?) async throws -> User
    /// Deletes a user and everything held by them; `notFound`, `lastAdmin`, or `inUse`.
    func deleteUser(named name: String) async throws
}

public protocol OAuth2ClientStore: Sendable {
    /// Inserts a client; `conflict` if the name or client id is taken.
    func createClient(_ client: OAuth2Client) async throws
    func client(clientId: String) async throws -> OAuth2Client?
    func clients() async throws -> [OAuth2Client]
    /// Replaces a client's registration; `notFound`, or `conflict` on a taken name.
    func updateClient(_ client: OAuth2Client) async throws
    /// Deletes a client and revokes everything issued to it; `notFound`.
    func deleteClient(clientId: String) async throws
}

public protocol SessionStore: Sendable {
    func createSession(_ session: Session) async throws
    /// The live session with this digest at `now`, or nil.
    func session(digest: String, now: Int64) async throws -> Session?
    func deleteSession(digest: String) async throws
    /// Deletes sessions that expired before `now`; returns how many.
    func pruneSessions(now: Int64) async throws -> Int
}

/// Server-wide settings that are made once and kept (the server's RSA key, the applinks id).
public protocol SettingsStore: Sendable {
    func setting(_ key: String) async throws -> String?
    /// The stored value, or `make()`'s result stored first (atomically: two callers get the same value).
    func settingOrCreate(_ key: String, _ make: @escaping @Sendable () throws -> String) async throws -> String
    /// Sets `key` to `value` only if it still holds `expected` (compare-and-set); false when it changed meanwhile.
    func replaceSetting(_ key: String, expected: String, with value: String) async throws -> Bool
}

/// Everything the server needs from storage.
public typealias LinkgateStore = UserStore & OAuth2ClientStore & SessionStore & SettingsStore & AuditStore
