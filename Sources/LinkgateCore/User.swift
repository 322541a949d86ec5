/// A local user account.
public struct User: Sendable, Equatable {
    /// Login name; unique case-insensitively, kept as created.
    public var name: String
    public var displayName: String
    public var email: String?
    public var admin: Bool
    /// scrypt hash (see `PasswordHasher`); never leaves the server.
    public var passwordHash: String
    /// Epoch seconds.
    public var createdAt: Int64

    public init(name: String, displayName: String, email: String?, admin: Bool, passwordHash: String, createdAt: Int64) {
        self.name = name
        self.displayName = displayName
        self.email = email
        self.admin = admin
        self.passwordHash = passwordHash
        self.createdAt = createdAt
    }
}

/// The keys a `PUT` may change on a user; nil leaves a value as it is.
public struct UserChange: Sendable, Equatable {
    public var displayName: String?
    /// `.some(nil)` clears the e-mail address.
    public var email: String??
    public var admin: Bool?
    public var password: String?

    public init(displayName: String? = nil, email: String?? = nil, admin: Bool? = nil, password: String? = nil) {
        self.displayName = displayName
        self.email = email
        self.admin = admin
        self.password = password
    }
}
