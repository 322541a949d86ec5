import LinkgateCore

/// The OpenID Connect values of a request's scope (INTERFACE §14, OIDC Core §3.1.2.1, §5.4):
/// `openid` (always, or the request is not an OIDC request), `profile` and `email`.
public struct OpenIDScope: Sendable, Equatable {
    /// `profile`: `name` and `preferred_username` (OIDC Core §5.4).
    public var profile: Bool
    /// `email`: `email` (OIDC Core §5.4).
    public var email: Bool

    public init(profile: Bool = false, email: Bool = false) {
        self.profile = profile
        self.email = email
    }

    /// The scope values this recognises besides the permission values of §4.
    public static let values = ["openid", "profile", "email"]

    /// Space-separated, in a fixed order: `openid profile email`. Stored as is.
    public var text: String {
        (["openid"] + (profile ? ["profile"] : []) + (email ? ["email"] : [])).joined(separator: " ")
    }

    /// Parses the stored text; nil for nil or text without `openid`.
    public init?(stored: String?) {
        guard let stored else { return nil }
        let values = stored.split(separator: " ").map(String.init)
        guard values.contains("openid") else { return nil }
        self.init(profile: values.contains("profile"), email: values.contains("email"))
    }

    /// Both sets' values.
    public func union(_ other: OpenIDScope?) -> OpenIDScope {
        OpenIDScope(profile: profile || other?.profile == true, email: email || other?.email == true)
    }

    /// Whether every value of `other` is one of these.
    public func covers(_ other: OpenIDScope) -> Bool {
        (profile || !other.profile) && (email || !other.email)
    }
}

/// What a request was granted: a permission value of §4 and, for an OIDC request, its
/// OpenID values (INTERFACE §14).
public struct GrantedScope: Sendable, Equatable {
    public var permission: Scope
    public var openID: OpenIDScope?

    public init(permission: Scope, openID: OpenIDScope? = nil) {
        self.permission = permission
        self.openID = openID
    }

    /// The token response's `scope`: the OIDC values, then the permission value (§14); for a
    /// plain OAuth 2.0 grant the permission value alone, as before (§4).
    public var text: String {
        openID.map { $0.text + " " + permission.rawValue } ?? permission.rawValue
    }
}

extension ScopeRequest {
    /// The scope of a request that may be an OpenID Connect request (INTERFACE §14): with
    /// `openid`, the other values may be `profile`, `email` and at most one permission value
    /// (two different ones → `invalid_scope`; none → `ceiling`); without it, §4's rules exactly
    /// (so `profile` or `email` alone is an unknown scope).
    public static func grantAllowingOpenID(_ requested: String?, ceiling: Scope, user: User?) throws(OAuthError) -> GrantedScope {
        guard let requested else { return GrantedScope(permission: try grant(nil, ceiling: ceiling, user: user)) }
        let values = requested.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard values.contains("openid") else { return GrantedScope(permission: try grant(requested, ceiling: ceiling, user: user)) }
        var openID = OpenIDScope()
        var permissions: Set<String> = []
        for value in values {
            switch value {
            case "openid": break
            case "profile": openID.profile = true
            case "email": openID.email = true
            default:
                guard Scope(rawValue: value) != nil else {
                    throw .invalidScope("unknown scope '\(value.prefix(40))'; use openid, profile, email and one of READ, WRITE, ADMIN or SYSTEM_ADMIN")
                }
                permissions.insert(value)
            }
        }
        guard permissions.count <= 1 else {
            throw .invalidScope("an OpenID Connect request may carry at most one of READ, WRITE, ADMIN or SYSTEM_ADMIN")
        }
        // No permission value → the client's registered scope (§14, §4), checked like any other.
        let permission = try grant(permissions.first, ceiling: ceiling, user: user)
        return GrantedScope(permission: permission, openID: openID)
    }

    /// A refresh's narrower scope (RFC 6749 §6): OIDC values within the grant's, a permission
    /// value within the grant's (omitted → the grant's).
    static func narrow(_ requested: String, of granted: GrantedScope, user: User?) throws(OAuthError) -> GrantedScope {
        guard let grantedOpenID = granted.openID else {
            return GrantedScope(permission: try grant(requested, ceiling: granted.permission, user: user))
        }
        let narrowed = try grantAllowingOpenID(requested, ceiling: granted.permission, user: user)
        guard let openID = narrowed.openID else {
            // Dropping `openid` on refresh: a plain access token of the permission asked for.
            return narrowed
        }
        guard grantedOpenID.covers(openID) else {
            throw .invalidScope("the refresh may not ask for more than the grant's scope \(granted.text)")
        }
        return narrowed
    }
}
