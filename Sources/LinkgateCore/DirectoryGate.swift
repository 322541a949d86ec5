import Synchronization

/// What Linkgate knows of its directory users (INTERFACE §13), remembered for `ttl` seconds:
/// whether the directory still has them, and their name, e-mail and admin flag. Impersonation,
/// `executeAs`, tokens and sessions of a directory user ask here, so within `ttl` of the
/// directory dropping a user they stop working. When the directory cannot be reached, the last
/// answer is used however old it is; with none, the caller gets `DirectoryError.unavailable`.
public final class DirectoryGate: Sendable {
    public let directory: any UserDirectory
    public let ttl: Int64
    let now: @Sendable () -> Int64
    let capacity: Int

    private struct Entry {
        var user: DirectoryUser?
        var checkedAt: Int64
    }
    private let known = Mutex<[String: Entry]>([:])

    public init(directory: any UserDirectory, ttl: Int64, capacity: Int = 100_000, now: @escaping @Sendable () -> Int64) {
        self.directory = directory
        self.ttl = ttl
        self.capacity = capacity
        self.now = now
    }

    /// The directory's user of that name (nil: the directory has none, or more than one).
    public func current(_ name: String) async throws(DirectoryError) -> DirectoryUser? {
        let key = name.lowercased(), at = now()
        let entry = known.withLock { $0[key] }
        if let entry, at - entry.checkedAt < ttl { return entry.user }
        do {
            let user = try await directory.lookup(name: name)
            store(key, Entry(user: user, checkedAt: at))
            return user
        } catch {
            // Stale beats nothing while the directory is down (INTERFACE §13: recovery by itself).
            if let entry { return entry.user }
            throw error
        }
    }

    /// A successful bind just said the user is there.
    public func remember(_ user: DirectoryUser) {
        store(user.name.lowercased(), Entry(user: user, checkedAt: now()))
    }

    /// Whether `user` may act: local users always; directory users while the directory has them.
    public func isActive(_ user: User) async throws(DirectoryError) -> Bool {
        guard !user.isLocal else { return true }
        return try await current(user.name) != nil
    }

    private func store(_ key: String, _ entry: Entry) {
        known.withLock { known in
            if known.count >= capacity, known[key] == nil {
                let horizon = entry.checkedAt - ttl
                known = known.filter { $0.value.checkedAt > horizon }
                if known.count >= capacity { known.removeAll(keepingCapacity: true) }
            }
            known[key] = entry
        }
    }
}

/// The users as impersonation, `executeAs`, tokens and sessions see them (INTERFACE §13): a
/// directory user the directory no longer has does not exist, and one the directory has but
/// Linkgate has not seen yet is created on first mention. Everything else passes through.
public struct DirectoryFollowingUsers: UserStore {
    let base: any UserStore
    let gate: DirectoryGate
    let shadows: ShadowUsers

    public init(_ base: any UserStore, gate: DirectoryGate, now: @escaping @Sendable () -> Int64) {
        self.base = base
        self.gate = gate
        shadows = ShadowUsers(store: base, kind: gate.directory.kind, now: now)
    }

    public func user(named name: String) async throws -> User? {
        let stored = try await base.user(named: name)
        if let stored, stored.isLocal { return stored }
        guard name.utf8.count <= 64, let found = try await gate.current(name) else { return nil }
        return try await shadows.sync(found, existing: stored)
    }

    public func createUser(_ user: User) async throws { try await base.createUser(user) }
    public func createFirstUser(_ user: User) async throws -> Bool { try await base.createFirstUser(user) }
    public func users() async throws -> [User] { try await base.users() }
    public func updateUser(named name: String, displayName: String?, email: String??, admin: Bool?, passwordHash: String?) async throws -> User {
        try await base.updateUser(named: name, displayName: displayName, email: email, admin: admin, passwordHash: passwordHash)
    }
    public func deleteUser(named name: String) async throws { try await base.deleteUser(named: name) }
}
