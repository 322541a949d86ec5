/// A user account: local, or the shadow of a directory user (INTERFACE §13).
public struct User: Sendable, Equatable {
    /// Where the user comes from (INTERFACE §13 `directory`).
    public static let local = "local"

    /// Login name; unique case-insensitively, kept as created.
    public var name: String
    public var displayName: String
    public var email: String?
    public var admin: Bool
    /// scrypt hash (see `PasswordHasher`); never leaves the server.
    public var passwordHash: String
    /// Epoch seconds.
    public var createdAt: Int64
    /// `"local"`, or the kind of the directory the user comes from (`"ldap"`), which owns the
    /// password, the name, e-mail and admin flag (INTERFACE §13).
    public var directory: String

    /// Whether the user's password is checked here (not in a directory).
    public var isLocal: Bool { directory == Self.local }

    public init(name: String, displayName: String, email: String?, admin: Bool, passwordHash: String, createdAt: Int64,
                directory: String = User.local) {
        self.directory = directory
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
