/// Directory users in Linkgate's own store (INTERFACE §13): a user record with `directory` set,
/// the directory's display name, e-mail and admin flag, and no usable password (the directory
/// checks it). Created the first time the user is seen, refreshed at each successful check.
public struct ShadowUsers: Sendable {
    let store: any UserStore
    let kind: String
    let now: @Sendable () -> Int64

    /// Stored instead of a password hash: never matches a password (`PasswordHasher.verify`).
    public static let noPassword = "!directory"

    public init(store: any UserStore, kind: String, now: @escaping @Sendable () -> Int64) {
        self.store = store
        self.kind = kind
        self.now = now
    }

    /// The stored record of `found`, created or brought up to date. A local user of the same
    /// name wins (it is returned unchanged: callers check `isLocal`).
    public func sync(_ found: DirectoryUser, existing: User?) async throws -> User {
        // The directory's values, fitted to Linkgate's rules: an over-long name is cut, an
        // address Linkgate would refuse is left out.
        let displayName = (try? Rules.label(String(found.displayName.prefix(200)), field: "displayName")) ?? found.name
        let email = found.email.flatMap { try? Rules.email($0) }
        guard let existing else {
            let user = User(name: found.name, displayName: displayName, email: email, admin: found.admin,
                            passwordHash: Self.noPassword, createdAt: now(), directory: kind)
            do {
                try await store.createUser(user)
                return user
            } catch StoreError.conflict {
                // Seen at the same moment by another request (or a local user was just created).
                return try await store.user(named: found.name) ?? user
            }
        }
        guard !existing.isLocal else { return existing }
        guard existing.displayName != displayName || existing.email != email || existing.admin != found.admin else { return existing }
        do {
            return try await store.updateUser(named: existing.name, displayName: displayName, email: .some(email),
                                              admin: found.admin, passwordHash: nil)
        } catch StoreError.lastAdmin {
            // The directory demoted the only admin: Linkgate keeps one (the next check tries again).
            return try await store.updateUser(named: existing.name, displayName: displayName, email: .some(email),
                                              admin: nil, passwordHash: nil)
        }
    }
}
