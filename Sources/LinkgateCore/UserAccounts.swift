import Dispatch
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

/// User management and password checks (INTERFACE §3), free of HTTP and SQL.
public struct UserAccounts: Sendable {
    let store: any UserStore
    let hasher: PasswordHasher
    let now: @Sendable () -> Int64
    let verified: VerifiedPasswordCache

    public init(store: any UserStore, hasher: PasswordHasher = .standard, now: @escaping @Sendable () -> Int64) {
        self.store = store
        self.hasher = hasher
        self.now = now
        self.verified = VerifiedPasswordCache()
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

    /// The user whose name and password match, or nil. Unknown names cost the same scrypt
    /// work as known ones, so response time does not reveal which names exist.
    public func authenticate(name: String, password: String) async throws -> User? {
        guard name.utf8.count <= 64, password.utf8.count <= 1024 else { return nil }
        let user = try await store.user(named: name)
        let stored = user?.passwordHash ?? Self.dummyHash
        let fingerprint = verified.fingerprint(name: name, password: password)
        if user != nil, verified.isVerified(fingerprint, passwordHash: stored, now: now()) { return user }
        let matches = await Self.offload { PasswordHasher.verify(password, against: stored) }
        guard matches, let user else { return nil }
        verified.remember(fingerprint, passwordHash: stored, now: now())
        return user
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
        return try await Self.offload { Result { try hasher.hash(password) } }.get()
    }

    private static let dummyHash: String = (try? PasswordHasher.standard.hash(SecureRandom.token())) ?? ""

    /// scrypt is deliberately slow; run it off the cooperative thread pool so it does not
    /// stall request handling.
    static func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: work()) }
        }
    }
}
