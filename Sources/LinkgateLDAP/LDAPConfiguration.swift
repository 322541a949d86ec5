/// How to reach and read the LDAP directory (INTERFACE §13: the `--ldap-*` options).
public struct LDAPConfiguration: Sendable, Equatable {
    /// `ldap://host:port` or `ldaps://host:port` (RFC 4516 without DN, attributes or filter).
    public var url: String
    /// The service account that searches users and reads groups; nil searches anonymously.
    public var bindDN: String?
    /// The service account's password (`LINKGATE_LDAP_BIND_PASSWORD`).
    public var bindPassword: String
    /// Where users are searched (subtree).
    public var baseDN: String
    /// The search filter; every `{0}` is replaced by the login name, escaped per RFC 4515.
    public var userFilter: String
    /// Attribute holding the display name (first value; the login name when absent).
    public var displayNameAttribute: String
    /// Attribute holding the e-mail address (first value).
    public var emailAttribute: String
    /// Members of this group are admins (`member`/`uniqueMember` of the group, or the group
    /// in the user's `memberOf`); nil: nobody is an admin through the directory.
    public var adminGroupDN: String?
    /// StartTLS (RFC 4511 §4.14) on an `ldap://` URL before any bind.
    public var startTLS: Bool
    /// PEM CA certificates for ldaps:// and StartTLS; nil: the system store.
    public var caFile: String?
    /// Connect (and TLS handshake) timeout.
    public var connectTimeout: Duration
    /// Timeout of each bind, search and StartTLS.
    public var operationTimeout: Duration

    public static let defaultUserFilter = "(uid={0})"
    public static let defaultTimeout: Duration = .seconds(5)

    public init(url: String, bindDN: String? = nil, bindPassword: String = "", baseDN: String,
                userFilter: String = LDAPConfiguration.defaultUserFilter, displayNameAttribute: String = "cn",
                emailAttribute: String = "mail", adminGroupDN: String? = nil, startTLS: Bool = false,
                caFile: String? = nil, connectTimeout: Duration = LDAPConfiguration.defaultTimeout,
                operationTimeout: Duration = LDAPConfiguration.defaultTimeout) {
        self.url = url
        self.bindDN = bindDN
        self.bindPassword = bindPassword
        self.baseDN = baseDN
        self.userFilter = userFilter
        self.displayNameAttribute = displayNameAttribute
        self.emailAttribute = emailAttribute
        self.adminGroupDN = adminGroupDN
        self.startTLS = startTLS
        self.caFile = caFile
        self.connectTimeout = connectTimeout
        self.operationTimeout = operationTimeout
    }

    /// A configuration that cannot work, with the option at fault.
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Checks what can be checked without the directory; throws `Invalid` naming the option.
    public func validate() throws(Invalid) {
        let lowered = url.lowercased()
        guard lowered.hasPrefix("ldap://") || lowered.hasPrefix("ldaps://") else {
            throw Invalid(message: "--ldap-url must start with ldap:// or ldaps://")
        }
        guard url.utf8.count > (lowered.hasPrefix("ldaps://") ? 8 : 7),
              !url.contains(where: { $0.isWhitespace || $0 == "?" }) else {
            throw Invalid(message: "--ldap-url must be ldap://host[:port] or ldaps://host[:port]")
        }
        if startTLS && lowered.hasPrefix("ldaps://") {
            throw Invalid(message: "--ldap-starttls applies to ldap:// URLs, not ldaps://")
        }
        if let bindDN, !bindDN.isEmpty, bindPassword.isEmpty {
            // An empty password would make the service bind "unauthenticated" (RFC 4513 §5.1.2).
            throw Invalid(message: "LINKGATE_LDAP_BIND_PASSWORD is required with --ldap-bind-dn")
        }
        if baseDN.trimmingSpaces.isEmpty {
            throw Invalid(message: "--ldap-base-dn is required")
        }
        guard userFilter.contains("{0}") else {
            throw Invalid(message: "--ldap-user-filter must contain {0} (the login name)")
        }
        guard userFilter.hasPrefix("("), userFilter.hasSuffix(")"), LDAPFilter.parenthesesBalance(userFilter) else {
            throw Invalid(message: "--ldap-user-filter must be one parenthesized filter, e.g. (uid={0})")
        }
        for (attribute, option) in [(displayNameAttribute, "--ldap-attr-display-name"), (emailAttribute, "--ldap-attr-email")] {
            guard LDAPFilter.isAttributeDescription(attribute) else {
                throw Invalid(message: "\(option) must be an attribute name")
            }
        }
        if let adminGroupDN, adminGroupDN.trimmingSpaces.isEmpty {
            throw Invalid(message: "--ldap-admin-group must be a DN")
        }
        guard connectTimeout > .zero, operationTimeout > .zero else {
            throw Invalid(message: "LDAP timeouts must be positive")
        }
    }
}

extension String {
    var trimmingSpaces: Substring {
        var slice = self[...]
        while slice.first == " " { slice.removeFirst() }
        while slice.last == " " { slice.removeLast() }
        return slice
    }
}

extension Duration {
    /// Whole milliseconds, at least 1, at most Int32.max.
    var clampedMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(1, milliseconds))
    }
}
