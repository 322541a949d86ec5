/// An external user directory (INTERFACE §13): the source of truth for the users it holds.
/// Implemented by `LinkgateLDAP.LDAPDirectory`; protocol logic sees only this.
///
/// Both calls may block on the network: implementations run their work off the event loops and
/// bound every wait (connect and operation timeouts), answering `DirectoryError.unavailable`
/// rather than hanging.
public protocol UserDirectory: Sendable {
    /// The value of a user entity's `directory` field for users from here (`"ldap"`).
    var kind: String { get }

    /// Where the directory is, for people (the console's System page): no credentials.
    var location: String { get }

    /// Checks a password against the directory. `nil` when there is no such entry, more than one
    /// entry matches the name, or the password is wrong: callers cannot and must not tell these
    /// apart. An empty password is refused without contacting the directory (an LDAP
    /// "unauthenticated bind" would succeed with it, RFC 4513 §5.1.2).
    func authenticate(name: String, password: String) async throws(DirectoryError) -> DirectoryUser?

    /// The user as the directory describes them now, without a password (for impersonation and
    /// `executeAs`): `nil` when there is no such entry or more than one.
    func lookup(name: String) async throws(DirectoryError) -> DirectoryUser?
}

/// A user as the directory describes them.
public struct DirectoryUser: Sendable, Equatable {
    /// The login name, as given to `authenticate`/`lookup` (the directory matched it).
    public var name: String
    /// The entry's distinguished name, as the directory returned it.
    public var dn: String
    /// The display-name attribute's first value; the login name when the entry has none.
    public var displayName: String
    /// The e-mail attribute's first value, if any.
    public var email: String?
    /// Member of the configured admin group; false when none is configured.
    public var admin: Bool

    public init(name: String, dn: String, displayName: String, email: String?, admin: Bool) {
        self.name = name
        self.dn = dn
        self.displayName = displayName
        self.email = email
        self.admin = admin
    }
}

/// Why the directory could not answer. A missing user or a wrong password is not an error
/// (`nil` from `UserDirectory`).
public enum DirectoryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Unreachable, timed out, TLS failure, refused the service account, or misconfigured:
    /// directory users' logins answer `503 temporarily_unavailable` (INTERFACE §13). The reason
    /// is for the server log; it holds no password.
    case unavailable(String)

    public var description: String {
        switch self {
        case .unavailable(let reason): "user directory unavailable: \(reason)"
        }
    }
}

extension UserDirectory {
    public var location: String { kind }
}
