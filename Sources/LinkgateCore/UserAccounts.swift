import LinkgateCrypto

/// What an admin (or the CLI) sends to create a user.
public struct NewUser: Sendable, Equatable {
    public var name: String
    public var password: String
    public var displayName: String?
    public var email: String?
    public var admin: Bool

    public init(name: String, password: String, displayName: String? = nil, email: String? = nil, admin: Bool = false) {
        self.name = name
        self.password = password
        self.displayName = displayName
        self.email = email
        self.admin = admin
    }
}

/// The outcome of a password check (INTERFACE §3, §10).
public enum PasswordCheck: Sendable, Equatable {
    case valid(User)
    /// Wrong name or password.
    case invalid
    /// Too many failures for this name and address: refused without running the KDF.
    case throttled(retryAfter: Int64)
    /// The hashing pool is full: refused at once.
    case busy
    /// The name is not local and the user directory cannot be reached (INTERFACE §13: `503`).
    case unavailable

    /// The user, when the check passed.
    public var user: User? {
        if case .valid(let user) = self { return user }
        return nil
    }
}

/// User management and password checks (INTERFACE §3, §10), free of HTTP and SQL.
public struct UserAccounts: Sendable {
    let store: any UserStore
    let hasher: PasswordHasher
    let now: @Sendable () -> Int64
    let verified: VerifiedPasswordCache
    /// Failed password checks per (name, address), address and name.
    public let throttle: FailureThrottle
    let pool: KDFPool
    let audit: AuditLog?
    /// The user directory (INTERFACE §13), if one is configured.
    public let directory: DirectoryGate?

    public init(store: any UserStore, hasher: PasswordHasher = .standard, throttle: FailureThrottle = FailureThrottle(policy: .passwords),
                pool: KDFPool = .shared, audit: AuditLog? = nil, directory: DirectoryGate? = nil, now: @escaping @Sendable () -> Int64) {
        self.directory = directory
        self.store = store
        self.hasher = hasher
        self.now = now
        self.verified = VerifiedPasswordCache()
        self.throttle = throttle
        self.pool = pool
        self.audit = audit
    }

    /// Validates and creates a user; `StoreError.conflict` if the name is taken.
    public func create(_ input: NewUser) async throws -> User {
        let user = try await makeUser(input)
        try await store.createUser(user)
        return user
    }

    /// Creates the bootstrap admin when the database has no users (INTERFACE §2).
    /// Returns the generated password when none was given (to be shown once), nil otherwise;
    /// does nothing if any user exists.
    public func bootstrapAdmin(password given: String?) async throws -> (created: Bool, generatedPassword: String?) {
        let password = given ?? SecureRandom.token()
        let user = try await makeUser(NewUser(name: "admin", password: password, displayName: "Administrator", admin: true))
        let created = try await store.createFirstUser(user)
        return (created, created && given == nil ? password : nil)
    }

    /// Applies the keys given in `change`.
    public func update(name: String, change: UserChange) async throws -> User {
        // INTERFACE §13: the directory owns a directory user's password and admin flag.
        if change.password != nil || change.admin != nil, let user = try await store.user(named: name), !user.isLocal {
            throw ValidationError(change.password != nil ? "password" : "admin",
                                  "is managed by the user directory (\(user.directory)) for this user")
        }
        let displayName = try change.displayName.map { try Rules.label($0, field: "displayName") }
        let email: String?? = try change.email.map { try $0.map { try Rules.email($0) } }
        var passwordHash: String? = nil
        if let password = change.password {
            passwordHash = try await hash(try Rules.password(password))
        }
        return try await store.updateUser(named: name, displayName: displayName, email: email, admin: change.admin,
                                          passwordHash: passwordHash)
    }

    public func delete(name: String) async throws {
        try await store.deleteUser(named: name)
    }

    /// Checks a password from the client at `address` (INTERFACE §10): a throttled name and
    /// address is refused before any hashing; unknown names cost the same scrypt work as known
    /// ones, so response time does not reveal which names exist.
    public func check(name: String, password: String, address: String) async throws -> PasswordCheck {
        let at = now()
        if let refusal = throttle.begin(name: name, address: address, now: at) { return .throttled(retryAfter: refusal.retryAfter) }
        // Every begun check is settled exactly once: as a failure, a success, or (nothing decided) cancelled.
        var settled = false
        defer { if !settled { throttle.cancel(name: name, address: address) } }
        guard !name.isEmpty, name.utf8.count <= 64, password.utf8.count <= 1024 else {
            settled = true
            return try await failed(name: name, address: address, at: at)
        }
        let user = try await store.user(named: name)
        // Not a local user, and a directory is configured: the directory decides (INTERFACE §13).
        if let directory, user.map({ !$0.isLocal }) ?? true {
            let outcome = try await checkInDirectory(directory, name: name, password: password, shadow: user, at: at)
            switch outcome {
            case .valid: throttle.recordSuccess(name: name, address: address)
            case .invalid: _ = try await failed(name: name, address: address, at: at)
            case .unavailable, .busy, .throttled: return outcome   // nothing decided: cancelled, not counted
            }
            settled = true
            return outcome
        }
        let stored = user?.passwordHash ?? Self.dummyHash
        let fingerprint = verified.fingerprint(name: name, password: password)
        var matches = false
        if user != nil, verified.isVerified(fingerprint, passwordHash: stored, now: at) {
            matches = true
        } else {
            do {
                matches = try await pool.run { PasswordHasher.verify(password, against: stored) }
            } catch is KDFPool.Full {
                return .busy
            }
        }
        settled = true
        guard matches, let user else { return try await failed(name: name, address: address, at: at) }
        verified.remember(fingerprint, passwordHash: stored, now: at)
        throttle.recordSuccess(name: name, address: address)
        return .valid(user)
    }

    /// A directory user's password: a remembered pair of a user the directory still has, else a
    /// bind. An empty password never reaches the directory (an LDAP "unauthenticated bind"
    /// succeeds with one, RFC 4513 §5.1.2).
    private func checkInDirectory(_ directory: DirectoryGate, name: String, password: String, shadow: User?,
                                  at: Int64) async throws -> PasswordCheck {
        guard !password.isEmpty else { return .invalid }
        let fingerprint = verified.fingerprint(name: name, password: password)
        do {
            if let shadow, verified.isVerified(fingerprint, passwordHash: shadow.passwordHash, now: at) {
                if try await directory.current(name) != nil { return .valid(shadow) }
            }
            guard let found = try await directory.directory.authenticate(name: name, password: password) else { return .invalid }
            directory.remember(found)
            let user = try await ShadowUsers(store: store, kind: directory.directory.kind, now: now).sync(found, existing: shadow)
            // A password changed in the directory stops working here within the cache TTL.
            verified.remember(fingerprint, passwordHash: user.passwordHash, now: at, for: directory.ttl)
            return .valid(user)
        } catch is DirectoryError {
            return .unavailable
        }
    }

    /// Counts a failure and audits the lockouts it starts (`user.lockout`).
    private func failed(name: String, address: String, at: Int64) async throws -> PasswordCheck {
        for lockout in throttle.recordFailure(name: name, address: address, now: at) {
            try await audit?.record(AuditAction.userLockout, actor: lockout.address, subject: lockout.user, outcome: .failure,
                                    detail: Self.describe(lockout, policy: throttle.policy, at: at))
        }
        return .invalid
    }

    /// The audit detail of a lockout that starts now.
    static func describe(_ lockout: Lockout, policy: ThrottlePolicy, at: Int64) -> String {
        let scope = switch (lockout.user, lockout.address) {
        case (.some, .some): "user and address"
        case (nil, _): "address, any user names"
        case (_, nil): "user name, any addresses (slowed)"
        }
        return "\(lockout.failures) failed password checks within \(policy.window / 60) min; \(scope) locked for \(lockout.until - at) s"
    }

    /// Admin: the lockouts in force.
    public func lockouts() -> [Lockout] { throttle.lockouts(now: now()) }

    /// Admin: lifts the lockouts of `user` and/or `address` (both nil: all), audited as `user.lockout`.
    public func clearLockouts(user: String?, address: String?, by admin: String) async throws {
        for lockout in throttle.clear(user: user, address: address, now: now()) {
            try await audit?.record(AuditAction.userLockout, actor: admin, subject: lockout.user,
                                    detail: "lockout of \(lockout.user ?? "any user") from \(lockout.address ?? "any address") cleared")
        }
    }

    private func makeUser(_ input: NewUser) async throws -> User {
        let name = try Rules.userName(input.name)
        let password = try Rules.password(input.password)
        let displayName = try input.displayName.map { try Rules.label($0, field: "displayName") } ?? name
        let email = try input.email.map { try Rules.email($0) }
        return User(name: name, displayName: displayName, email: email, admin: input.admin,
                    passwordHash: try await hash(password), createdAt: now())
    }

    private func hash(_ password: String) async throws -> String {
        let hasher = self.hasher
        return try await pool.runAlways { Result { try hasher.hash(password) } }.get()
    }

    private static let dummyHash: String = (try? PasswordHasher.standard.hash(SecureRandom.token())) ?? ""

}
